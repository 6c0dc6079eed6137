from django.apps import AppConfig


class AssistanceConfig(AppConfig):
    name = "fangpin.assistance"
    verbose_name = "帮扶措施"
