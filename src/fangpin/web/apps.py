from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "fangpin.web"
    verbose_name = "界面"

    def ready(self) -> None:
        from fangpin.web import checks  # noqa: F401  (registers the data-at-rest checks)
