"""Refreshing the indicator table: one county at a time, atomically, resumable after a crash.

`refresh_month(month)` walks the counties (in code order). For each it computes every village's cells, adds
them up to townships and the county, and replaces that county's rows for the month in ONE transaction, then
records the county as done on the run. A crash leaves finished counties new and the others old; the next
call for the same month and scope picks up the unfinished run and skips the finished counties. Cities and
the province are summed from the county rows at the end (their quantiles are recomputed from the cases).
The result of a resumed run equals a clean run's (tested): every county's rows are a pure function of the
case tables at the time they were computed.

Incremental: `refresh_changed(months)` recomputes only the months whose leads/cases/measures changed after
that month's last finished run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from fangpin.analytics.indicators import (
    LEVEL_OF_LENGTH,
    Cell,
    Cells,
    finish,
    month_bounds,
    rollup,
    village_cells,
)
from fangpin.analytics.models import Indicator, RefreshRun
from fangpin.assistance.models import Measure
from fangpin.cases.models import Case
from fangpin.regions.models import Region
from fangpin.warnings.models import Lead

Progress = Callable[[int, int, str], None]


def _counties(scope: str) -> list[str]:
    qs = Region.objects.filter(level="county")
    if len(scope) >= 6:
        return [scope[:6]] if qs.filter(prefix=scope[:6]).exists() else []
    return list(qs.filter(prefix__startswith=scope).order_by("prefix").values_list("prefix", flat=True))


def _village_counts(prefix: str) -> dict[str, int]:
    """Villages under every township / county / city / province prefix within `prefix` (for per-village rates)."""
    counts: dict[str, int] = {}
    for code in Region.objects.filter(level="village", prefix__startswith=prefix).values_list(
        "prefix", flat=True
    ):
        for n in (2, 4, 6, 9, 12):
            counts[code[:n]] = counts.get(code[:n], 0) + 1
    return counts


def _rows(region: str, cells: Cells, month: str, villages: int, at: dt.datetime) -> list[Indicator]:
    per_village = cells.get(("leads_verified_per_village", ""))
    if villages:
        cells[("leads_verified_per_village", "")] = Cell(
            numerator=per_village.numerator if per_village else 0.0,
            denominator=float(villages),
            households=per_village.households if per_village else 0,
        )
    level = LEVEL_OF_LENGTH[len(region)]
    return [
        Indicator(region=region, level=level, month=month, computed_at=at, **row) for row in finish(cells)
    ]


def refresh_county(county: str, month: str, *, now: dt.datetime | None = None) -> int:
    """Recompute one county's village, township and county rows for a month (one transaction)."""
    at = now or timezone.now()
    villages = village_cells(county, month, now=at)
    areas = rollup(villages, (12, 9, 6))
    counts = _village_counts(county)
    areas.setdefault(county, {})  # a county without any case still gets its per-village row
    rows: list[Indicator] = []
    for region, cells in areas.items():
        rows.extend(_rows(region, dict(cells), month, counts.get(region, 0), at))
    with transaction.atomic():
        Indicator.objects.filter(month=month, region__startswith=county).delete()
        Indicator.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def refresh_upper(province: str, month: str, *, now: dt.datetime | None = None) -> int:
    """A province's city and province rows: its county rows summed; quantiles recomputed from the cases."""
    at = now or timezone.now()
    start, end = month_bounds(month, at)
    upper: dict[str, Cells] = {}
    county_rows = list(Indicator.objects.filter(month=month, level="county", region__startswith=province))
    for row in county_rows:
        if row.code == "decision_days":
            continue
        for n in (2, 4):
            cell = upper.setdefault(row.region[:n], {}).setdefault((row.code, row.dimension), Cell())
            # per-village rates are rebuilt from the summed numerator and the area's village count
            den = 0.0 if row.code == "leads_verified_per_village" else (row.denominator or 0.0)
            cell.add(Cell(row.numerator or 0.0, den, row.households or 0))
    decided = Case.objects.filter(
        kind="identification", village__prefix__startswith=province, decided_at__gte=start, decided_at__lt=end
    ).values_list("village_id", "found_at", "decided_at")
    for village, found, when in decided:
        if when is None:  # excluded by the filter; for the type checker
            continue
        days = round((when - found).total_seconds() / 86400, 2)
        for n in (2, 4):
            upper.setdefault(village[:n], {}).setdefault(("decision_days", ""), Cell()).durations.append(days)
    counts = _village_counts(province)
    rows: list[Indicator] = []
    for region, cells in upper.items():
        rows.extend(_rows(region, cells, month, counts.get(region, 0), at))
    with transaction.atomic():
        Indicator.objects.filter(
            month=month, level__in=["city", "province"], region__startswith=province
        ).delete()
        Indicator.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def refresh_month(
    month: str,
    *,
    scope: str = "",
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    fail_after: int | None = None,
) -> RefreshRun:
    """Refresh a month for every county under `scope` ("" = all), resuming an unfinished run of the same scope.

    `fail_after` (tests only) raises after that many counties, to show that a crash loses nothing.
    """
    run = RefreshRun.objects.filter(month=month, scope=scope, status__in=["running", "failed"]).first()
    counties = _counties(scope)
    if run is None:
        run = RefreshRun.objects.create(
            month=month, scope=scope, started_at=timezone.now(), counties_total=len(counties)
        )
    run.status, run.error = RefreshRun.Status.RUNNING, ""
    run.save(update_fields=["status", "error"])
    done = set(run.counties_done)
    for i, county in enumerate(counties, 1):
        if county in done:
            continue
        if fail_after is not None and len(done) >= fail_after:
            run.status, run.error = RefreshRun.Status.FAILED, "interrupted"
            run.save(update_fields=["status", "error"])
            raise RuntimeError(f"refresh interrupted after {len(done)} counties")
        refresh_county(county, month, now=now)
        done.add(county)
        run.counties_done = sorted(done)
        run.save(update_fields=["counties_done"])
        if progress:
            progress(i, len(counties), county)
    for province in sorted({c[:2] for c in counties}):
        refresh_upper(province, month, now=now)
    run.status, run.finished_at = RefreshRun.Status.DONE, timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return run


def changed_since(month: str, since: dt.datetime) -> bool:
    """Did any lead of the month, or any case / measure, change after `since`?"""
    latest = [
        Lead.objects.filter(period=month).aggregate(m=Max("updated_at"))["m"],
        Case.objects.aggregate(m=Max("updated_at"))["m"],
        Measure.objects.aggregate(m=Max("updated_at"))["m"],
    ]
    return any(t is not None and t > since for t in latest)


def refresh_changed(months: Iterable[str], *, scope: str = "", progress: Progress | None = None) -> list[str]:
    """Refresh only the months never computed or whose sources changed since their last finished run."""
    refreshed = []
    for month in months:
        last = (
            RefreshRun.objects.filter(month=month, scope=scope, status="done")
            .order_by("-finished_at")
            .first()
        )
        if last is None or last.finished_at is None or changed_since(month, last.finished_at):
            refresh_month(month, scope=scope, progress=progress)
            refreshed.append(month)
    return refreshed
