from django.apps import AppConfig


class WarningsConfig(AppConfig):
    name = "fangpin.warnings"
    verbose_name = "预警与线索"
