from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "fangpin.cases"
    verbose_name = "监测对象识别与消除"

    def ready(self) -> None:
        from fangpin.cases import checks  # noqa: F401  (registers the holiday-schedule and clamd checks)
