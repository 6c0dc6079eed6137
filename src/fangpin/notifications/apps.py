from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "fangpin.notifications"
    verbose_name = "消息通知"

    def ready(self) -> None:
        from fangpin.accounts.signals import account_security_changed
        from fangpin.notifications.receivers import tell_about_account_security

        account_security_changed.connect(tell_about_account_security, dispatch_uid="account-security")
