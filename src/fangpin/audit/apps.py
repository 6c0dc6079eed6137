from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "fangpin.audit"
    verbose_name = "安全审计"

    def ready(self) -> None:
        from fangpin.audit import checks  # noqa: F401  (registers the system checks)
