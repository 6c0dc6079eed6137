from django.urls import include, path

from fangpin.api import api

urlpatterns = [
    path("", include("fangpin.web.urls")),
    path("", include("fangpin.accounts.urls")),
    path("", include("fangpin.regions.urls")),
    path("", include("fangpin.registry.urls")),
    path("", include("fangpin.audit.urls")),
    path("", include("fangpin.exchange.urls")),
    path("", include("fangpin.warnings.urls")),
    path("", include("fangpin.cases.urls")),
    path("", include("fangpin.assistance.urls")),
    path("", include("fangpin.notifications.urls")),
    path("", include("fangpin.analytics.urls")),
    path("", include("fangpin.privacy.urls")),
    path("api/v1/", api.urls),
]
