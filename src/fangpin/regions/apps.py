from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "fangpin.regions"
    verbose_name = "行政区划"
