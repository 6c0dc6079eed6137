from django.urls import path

from fangpin.privacy import views

app_name = "privacy"

urlpatterns = [
    path("privacy/exports/", views.request_list, name="export_requests"),
    path("privacy/exports/<int:pk>/", views.request_detail, name="export_request_detail"),
    path("privacy/exports/<int:pk>/decide/", views.request_decide, name="export_request_decide"),
    path("privacy/exports/<int:pk>/use/", views.request_use, name="export_request_use"),
]
