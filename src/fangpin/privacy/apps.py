from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "fangpin.privacy"
    verbose_name = "个人信息保护"

    def ready(self) -> None:
        from fangpin.privacy import checks  # noqa: F401  (registers the system checks)
