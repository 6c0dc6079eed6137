from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.analytics import dashboard
from fangpin.regions.models import Level

# The home page's figures are cached until the next analytics refresh (the dashboards' rule, docs/analytics.md):
# counting every person of a province (10 million) on each page view is a full scan. A day at most, so an
# installation whose refresh does not run still sees registry changes.
HOME_CACHE_SECONDS = 24 * 3600


def home_figures(user: User) -> dict[str, Any]:
    """The registry counts of the user's scope, through `accounts.scope` (the one place scope is applied),
    computed once per region and refresh version and shared by every user of that region."""
    version = dashboard.cache_version()
    # what the scope functions below depend on: the region and whether the role sees regions at all
    key = f"home:{version}:{user.region_id}:{int(user.can(Can.VIEW_REGIONS))}"
    found: dict[str, Any] | None = cache.get(key)
    if found is None:
        households = scope.households(user)
        found = {
            "households": households.count(),
            "former_poor": households.filter(household_type="former_poor").count(),
            "persons": scope.persons(user).count(),
            "villages": scope.regions(user).filter(level=Level.VILLAGE).count(),
            "as_of": timezone.now(),
        }
        cache.set(key, found, HOME_CACHE_SECONDS)
    return found


@requires()
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    figures = home_figures(user) if user.can(Can.VIEW_HOUSEHOLDS) else {}
    return render(request, "web/home.html", {"figures": figures})


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For the load balancer: answers without a session, says nothing about the data."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
