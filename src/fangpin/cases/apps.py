from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "fangpin.cases"
    verbose_name = "监测对象识别与消除"
