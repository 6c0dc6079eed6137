"""The JSON API of the indicators (staff, session-authenticated): the same figures, scope and small-cell
rule as the dashboards, for other tools (a provincial screen, a spreadsheet pulling the monthly figures)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.security import django_auth

from fangpin.accounts import scope
from fangpin.accounts.decorators import api_user
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.analytics import dashboard
from fangpin.regions.models import Region

router = Router(tags=["监测分析 analytics"], auth=django_auth)


class FigureOut(Schema):
    code: str
    dimension: str
    name: str
    unit: str
    value: float | None
    suppressed: bool


class IndicatorsOut(Schema):
    region: str
    name: str
    month: str
    months: list[str]
    figures: list[FigureOut]


def _user(request: HttpRequest) -> User:
    user: User = api_user(request, Can.VIEW_ANALYTICS)
    return user


@router.get(
    "/regions/{prefix}", response=IndicatorsOut, url_name="analytics_indicators", summary="区域监测指标"
)
def indicators(request: HttpRequest, prefix: str, month: str = "") -> IndicatorsOut:
    user = _user(request)
    region = scope.get_or_404(user, Region, prefix=prefix)
    months = dashboard.months(region.prefix)
    chosen = month if month in months else (months[0] if months else "")
    figures = dashboard.summary(region.prefix, chosen, dashboard.entitled(user)) if chosen else []
    return IndicatorsOut(
        region=region.prefix,
        name=region.name,
        month=chosen,
        months=months,
        figures=[
            FigureOut(
                code=f.code,
                dimension=f.dimension,
                name=f.name,
                unit=f.unit,
                value=f.number,
                suppressed=f.suppressed,
            )
            for f in figures
        ],
    )
