from django.urls import path, re_path

from fangpin.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/totp/", views.totp_view, name="totp"),
    path("account/totp/setup/", views.totp_setup_view, name="totp_setup"),
    path("logout/", views.logout_view, name="logout"),
    path("account/password/", views.password_change_view, name="password_change"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_create, name="user_create"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    re_path(
        r"^users/(?P<pk>\d+)/(?P<action>deactivate|activate|unlock|reset_password|reset_totp)/$",
        views.user_action,
        name="user_action",
    ),
]
