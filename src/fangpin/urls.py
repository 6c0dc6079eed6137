from django.urls import include, path

urlpatterns = [
    path("", include("fangpin.web.urls")),
    path("", include("fangpin.accounts.urls")),
    path("", include("fangpin.regions.urls")),
    path("", include("fangpin.registry.urls")),
    path("", include("fangpin.audit.urls")),
]
