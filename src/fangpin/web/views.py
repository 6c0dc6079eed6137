from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.regions.models import Level


@requires()
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    figures = {}
    if user.can(Can.VIEW_HOUSEHOLDS):
        households = scope.households(user)
        figures = {
            "households": households.count(),
            "former_poor": households.filter(household_type="former_poor").count(),
            "persons": scope.persons(user).count(),
            "villages": scope.regions(user).filter(level=Level.VILLAGE).count(),
        }
    return render(request, "web/home.html", {"figures": figures})


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For the load balancer: answers without a session, says nothing about the data."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
