"""What the dashboards, reports and exports show — read from the Indicator table only (never the case tables).

Small cells: a figure resting on fewer than SMALL_CELL (5) households is shown as "<5" to a viewer who is not
entitled to the detail. Entitled = may see the households of that area anyway (Can.VIEW_HOUSEHOLDS within
scope; the dashboards only ever show areas in scope). Reports marked for publication (`public=True`) suppress
for everybody. docs/analytics.md states the rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import cache
from django.db.models import Max

from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.analytics.indicators import CHANNEL_NAMES, DEFINITIONS
from fangpin.analytics.models import Indicator, RefreshRun
from fangpin.lib.risks import CATEGORIES
from fangpin.regions.models import Region

SMALL_CELL = 5
# the indicators of the summary cards and the children table, in display order: (code, dimension)
SUMMARY = [
    ("monitored_households", ""),
    ("monitored_persons", ""),
    ("new_inclusions", ""),
    ("eliminations", ""),
    ("elimination_rate", ""),
    ("warnings_issued", ""),
    ("warnings_verified", ""),
    ("warnings_confirmed", ""),
    ("warnings_per_confirmed", ""),
    ("found_by_system_share", ""),
    ("leads_verified_per_village", ""),
    ("decision_days", "median"),
    ("decision_days", "p90"),
    ("within_deadline_share", ""),
    ("overdue_cases", ""),
    ("assistance_coverage", ""),
    ("income_pc", ""),
    ("below_line_share", ""),
]
MAP_CHOICES = [
    "monitored_households",
    "new_inclusions",
    "warnings_issued",
    "found_by_system_share",
    "within_deadline_share",
    "overdue_cases",
    "leads_verified_per_village",
    "below_line_share",
]
TREND_CODES = [
    "monitored_households",
    "new_inclusions",
    "eliminations",
    "warnings_issued",
    "warnings_confirmed",
]
FUNNEL = [
    ("warnings_issued", "部门预警"),
    ("warnings_verified", "入户核实"),
    ("warnings_confirmed", "纳入监测"),
    ("eliminations", "风险消除"),
]
CHILD_LEVEL = {"province": "city", "city": "county", "county": "township", "township": "village"}
MAP_LEVEL = {"province": "county", "city": "county", "county": "township", "township": "village"}


T = TypeVar("T")
CACHE_SECONDS = 3600


def cache_version() -> str:
    """The last finished refresh: the table only changes when a refresh finishes, so data cached under
    this version is never stale (a new refresh gives new keys; old ones expire)."""
    version = RefreshRun.objects.filter(status="done").aggregate(v=Max("finished_at"))["v"]
    return str(version.timestamp() if version else 0)


def cached(parts: tuple[Any, ...], compute: Callable[[], T], version: str | None = None) -> T:
    """Page data cached under the refresh version (see cache_version)."""
    key = "analytics:" + ":".join(str(p) for p in (version or cache_version(), *parts))
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, CACHE_SECONDS)
    return found  # type: ignore[no-any-return]


def entitled(user: User, public: bool = False) -> bool:
    return not public and user.can(Can.VIEW_HOUSEHOLDS)


@dataclass(frozen=True)
class Figure:
    code: str
    dimension: str
    value: float | None
    households: int | None
    suppressed: bool

    @property
    def name(self) -> str:
        d = DEFINITIONS[self.code]
        suffix = {"median": "（中位数）", "p90": "（90% 分位）"}.get(self.dimension, "")
        return d.name + suffix

    @property
    def unit(self) -> str:
        return DEFINITIONS[self.code].unit

    @property
    def seed(self) -> str:
        return DEFINITIONS[self.code].seed

    @property
    def text(self) -> str:
        if self.suppressed:
            return "<5"
        if self.value is None:
            return "—"
        if self.unit == "%":
            return f"{self.value * 100:.1f}%"
        if DEFINITIONS[self.code].kind == "count":
            return f"{self.value:,.0f}"
        return f"{self.value:,.1f}"

    @property
    def number(self) -> float | None:
        """The figure for charts and exports (None when suppressed)."""
        if self.suppressed or self.value is None:
            return None
        return round(self.value * 100, 2) if self.unit == "%" else round(self.value, 2)


def figure(row: dict[str, Any] | None, code: str, dimension: str, detail: bool) -> Figure:
    if row is None:
        count_like = DEFINITIONS[code].kind == "count"
        return Figure(code, dimension, 0.0 if count_like else None, 0, False)
    households = row["households"]
    small = households is not None and 0 < households < SMALL_CELL
    return Figure(code, dimension, row["value"], households, small and not detail)


def months(region: str) -> list[str]:
    return sorted(
        Indicator.objects.filter(region=region, code="monitored_households", dimension="")
        .values_list("month", flat=True)
        .distinct(),
        reverse=True,
    )


def _rows(
    regions: list[str], month: str, codes: set[str]
) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    qs = Indicator.objects.filter(month=month, region__in=regions, code__in=codes).values(
        "region", "code", "dimension", "value", "households", "numerator", "denominator"
    )
    for row in qs:
        out[row["region"]][(row["code"], row["dimension"])] = dict(row)
    return out


def summary(region: str, month: str, detail: bool) -> list[Figure]:
    rows = _rows([region], month, {c for c, _ in SUMMARY}).get(region, {})
    return [figure(rows.get((c, d)), c, d, detail) for c, d in SUMMARY]


def breakdowns(region: str, month: str, detail: bool) -> list[tuple[str, list[tuple[str, Figure]]]]:
    """Monitored households by category and risk type, roster by channel, coverage by measure type."""
    qs = Indicator.objects.filter(
        month=month,
        region=region,
        code__in=["monitored_households", "found_by_system_share", "assistance_coverage"],
    ).exclude(dimension="")
    groups: dict[str, list[tuple[str, Figure]]] = defaultdict(list)
    for row in qs.values("code", "dimension", "value", "households").order_by("code", "dimension"):
        kind, _, key = row["dimension"].partition(":")
        label = _label(kind, key)
        title = {
            "category": "监测户·按类别",
            "risk": "监测户·按风险类型",
            "channel": "监测户·首次发现渠道",
            "type": "帮扶措施覆盖·按措施类型",
        }.get(kind, kind)
        groups[title].append((label, figure(dict(row), row["code"], row["dimension"], detail)))
    return sorted(groups.items())


def _label(kind: str, key: str) -> str:
    if kind == "category":
        return CATEGORIES.get(key, key)
    if kind == "risk":
        return f"风险类型 {key}"
    if kind == "channel":
        return CHANNEL_NAMES.get(key, key)
    return key


def children(region: Region) -> list[Region]:
    child_level = CHILD_LEVEL.get(region.level)
    if child_level is None:
        return []
    return list(Region.objects.filter(level=child_level, prefix__startswith=region.prefix).order_by("prefix"))


def map_areas(region: Region) -> list[Region]:
    level = MAP_LEVEL.get(region.level)
    if level is None:
        return []
    return list(Region.objects.filter(level=level, prefix__startswith=region.prefix).order_by("prefix"))


def table(areas: list[Region], month: str, detail: bool) -> list[tuple[Region, list[Figure]]]:
    rows = _rows([a.prefix for a in areas], month, {c for c, _ in SUMMARY})
    return [
        (a, [figure(rows.get(a.prefix, {}).get((c, d)), c, d, detail) for c, d in SUMMARY]) for a in areas
    ]


def map_values(areas: list[Region], month: str, code: str, detail: bool) -> list[dict[str, Any]]:
    rows = _rows([a.prefix for a in areas], month, {code})
    dim = "median" if code == "decision_days" else ""
    out = []
    for a in areas:
        f = figure(rows.get(a.prefix, {}).get((code, dim)), code, dim, detail)
        out.append({"code": a.prefix, "name": a.name, "value": f.number, "text": f.text})
    return out


def trend(region: str, month_list: list[str], detail: bool) -> dict[str, Any]:
    wanted = sorted(month_list)[-12:]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for row in Indicator.objects.filter(
        region=region, month__in=wanted, code__in=TREND_CODES + ["warnings_verified"], dimension=""
    ).values("month", "code", "value", "households"):
        rows[(row["month"], row["code"])] = dict(row)
    series = []
    for code in TREND_CODES:
        figures = [figure(rows.get((m, code)), code, "", detail) for m in wanted]
        series.append({"code": code, "name": DEFINITIONS[code].name, "data": [f.number for f in figures]})
    funnel = []
    for code, label in FUNNEL:
        total = sum((rows.get((m, code)) or {}).get("value") or 0.0 for m in wanted)
        households = sum((rows.get((m, code)) or {}).get("households") or 0 for m in wanted)
        small = 0 < households < SMALL_CELL and not detail
        funnel.append({"name": label, "value": None if small else round(total), "code": code})
    return {"months": wanted, "series": series, "funnel": funnel}
