"""The JSON API (django-ninja, OpenAPI). Docs pages are served with local assets only."""

from __future__ import annotations

from ninja import NinjaAPI

from fangpin.accounts.decorators import requires
from fangpin.analytics.api import router as analytics_router
from fangpin.assistance.api import router as assistance_router
from fangpin.cases.api import router as cases_router
from fangpin.exchange.api import router as exchange_router
from fangpin.warnings.api import router as leads_router

api = NinjaAPI(
    title="fangpin 防贫监测 API",
    version="1",
    urls_namespace="api",
    docs_decorator=requires(),  # the API reference is for signed-in staff; tokens are for machines
)
api.add_router("/exchange", exchange_router)
api.add_router("/cases", cases_router)
api.add_router("/leads", leads_router)
api.add_router("/assistance", assistance_router)
api.add_router("/analytics", analytics_router)
