from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.regions import actions
from fangpin.regions.models import Level, Region


@requires(Can.VIEW_REGIONS)
@require_GET
def region_home(request: HttpRequest) -> HttpResponse:
    return redirect("regions:region_detail", prefix=request.user.region_id)  # type: ignore[union-attr]


@requires(Can.VIEW_REGIONS)
@require_GET
def region_detail(request: HttpRequest, prefix: str) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    region = scope.get_or_404(user, Region, prefix=prefix)
    children = (
        scope.regions(user).filter(parent=region).annotate(child_count=Count("children")).order_by("prefix")
    )
    household_count = scope.households(user).filter(village__prefix__startswith=region.prefix).count()
    return render(
        request,
        "regions/region_detail.html",
        {
            "region": region,
            "ancestors": [a for a in region.ancestors() if a.prefix.startswith(user.region_id)],
            "children": children,
            "household_count": household_count,
            "can_manage_grids": user.can(Can.MANAGE_GRIDS) and region.level == Level.VILLAGE,
            "can_rename": user.can(Can.MANAGE_GRIDS) and region.level == Level.GRID,
        },
    )


@requires(Can.MANAGE_GRIDS)
@require_POST
def grid_create(request: HttpRequest, prefix: str) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    village = scope.get_or_404(user, Region, prefix=prefix)
    try:
        actions.create_grid(village, request.POST.get("name", ""), actor=user)
        messages.success(request, "网格已新建。")
    except actions.RegionError as exc:
        messages.error(request, str(exc))
    return redirect("regions:region_detail", prefix=village.prefix)


@requires(Can.MANAGE_GRIDS)
@require_POST
def grid_rename(request: HttpRequest, prefix: str) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    grid = scope.get_or_404(user, Region, prefix=prefix)
    try:
        actions.rename_grid(grid, request.POST.get("name", ""), actor=user)
        messages.success(request, "网格已改名。")
    except actions.RegionError as exc:
        messages.error(request, str(exc))
    return redirect("regions:region_detail", prefix=grid.prefix)
