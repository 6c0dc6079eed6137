from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "fangpin.notifications"
    verbose_name = "消息通知"
