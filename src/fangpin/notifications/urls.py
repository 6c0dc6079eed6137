from django.urls import path

from fangpin.notifications import views

app_name = "notifications"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/badge/", views.badge, name="badge"),
    path("inbox/<int:pk>/read/", views.read, name="read"),
    path("inbox/read-all/", views.read_all, name="read_all"),
    path("inbox/robots/", views.webhook_list, name="webhook_list"),
    path("inbox/robots/<int:pk>/", views.webhook_action, name="webhook_action"),
    path("inbox/robot-hosts/", views.robot_hosts, name="robot_hosts"),
    path("inbox/robot-hosts/<int:pk>/remove/", views.robot_host_remove, name="robot_host_remove"),
]
