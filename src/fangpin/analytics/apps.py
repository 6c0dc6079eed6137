from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "fangpin.analytics"
    verbose_name = "监测分析"
