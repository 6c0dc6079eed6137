from django.urls import path  # noqa: F401

app_name = "warnings"
urlpatterns: list = []  # type: ignore[type-arg]
