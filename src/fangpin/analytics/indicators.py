"""The indicators: their codes, Chinese names, how they add up, and their computation for one county-month.

Each indicator is stored per region and month as (numerator, denominator, value, households):
- `count`: value = numerator; adds up over regions;
- `ratio`: value = numerator / denominator; numerator and denominator add up (so a township's share is the
  ratio of its sums, never an average of village shares);
- `quantile`: a median / p90 of durations, recomputed from the durations at every level.
Months are calendar months in Asia/Shanghai; a stock ("at month end") uses the month's last instant, or now
for the running month.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.utils import timezone

from fangpin.assistance.models import Measure, MeasureStatus
from fangpin.cases import monitoring
from fangpin.cases.models import Case
from fangpin.cases.transitions import FINAL_STATES
from fangpin.registry.models import Household
from fangpin.warnings.models import Channel, Lead, LeadKind, Outcome

TZ = ZoneInfo("Asia/Shanghai")
LEVEL_OF_LENGTH = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}


@dataclass(frozen=True)
class Definition:
    code: str
    name: str
    kind: str  # count | ratio | quantile
    unit: str = ""
    seed: str = ""  # the figure from the seed article, where there is one


DEFINITIONS: dict[str, Definition] = {
    d.code: d
    for d in [
        Definition("monitored_households", "监测户数", "count", "户"),
        Definition("monitored_persons", "监测人数", "count", "人"),
        Definition("new_inclusions", "新纳入监测户数", "count", "户"),
        Definition("eliminations", "风险消除户数", "count", "户"),
        Definition("elimination_rate", "累计风险消除率", "ratio", "%"),
        Definition("warnings_issued", "部门预警推送数", "count", "条"),
        Definition("warnings_verified", "预警已核实数", "count", "条"),
        Definition("warnings_confirmed", "预警核实纳入数", "count", "户"),
        Definition("warnings_per_confirmed", "每纳入一户所需预警数", "ratio", "条/户", "2,000 → 7.7"),
        Definition("found_by_system_share", "系统预警发现的监测户占比", "ratio", "%", "超过 70%"),
        Definition("leads_verified_per_village", "每村每月入户核实线索数", "ratio", "条", "500 → 2.5"),
        Definition("decision_days", "线索到审批决定天数", "quantile", "天"),
        Definition("within_deadline_share", "时限内办结占比", "ratio", "%"),
        Definition("overdue_cases", "超期未办结案件", "count", "件"),
        Definition("assistance_coverage", "帮扶措施覆盖率", "ratio", "%"),
        Definition("income_pc", "监测户人均纯收入", "ratio", "元"),
        Definition("below_line_share", "监测户收入低于监测线占比", "ratio", "%"),
    ]
}
CHANNEL_NAMES = {**dict(Channel.choices), "pre_system": "系统上线前已纳入/未经线索"}


def month_bounds(month: str, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a calendar month in Asia/Shanghai; `end` is capped at now for the running month."""
    y, m = int(month[:4]), int(month[5:7])
    start = dt.datetime(y, m, 1, tzinfo=TZ)
    end = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=TZ)
    now = now or timezone.now()
    return start, min(end, now) if start <= now else end


@dataclass
class Cell:
    numerator: float = 0.0
    denominator: float = 0.0
    households: int = 0
    durations: list[float] = field(default_factory=list)

    def add(self, other: Cell) -> None:
        self.numerator += other.numerator
        self.denominator += other.denominator
        self.households += other.households
        self.durations.extend(other.durations)


Cells = dict[tuple[str, str], Cell]  # (code, dimension) → cell


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def finish(cells: Cells) -> list[dict[str, Any]]:
    """The stored rows of one region: values from numerators/denominators, quantiles from durations."""
    rows = []
    for (code, dim), cell in sorted(cells.items()):
        kind = DEFINITIONS[code].kind
        if kind == "quantile":
            if not cell.durations:
                continue
            for name, q in (("median", 0.5), ("p90", 0.9)):
                value = round(_quantile(cell.durations, q), 2)
                rows.append(
                    {
                        "code": code,
                        "dimension": name,
                        "value": value,
                        "numerator": None,
                        "denominator": float(len(cell.durations)),
                        "households": len(cell.durations),
                    }
                )
            continue
        if kind == "ratio":
            ratio = cell.numerator / cell.denominator if cell.denominator else None
            rows.append(
                {
                    "code": code,
                    "dimension": dim,
                    "value": ratio,
                    "numerator": cell.numerator,
                    "denominator": cell.denominator,
                    "households": cell.households,
                }
            )
        else:
            rows.append(
                {
                    "code": code,
                    "dimension": dim,
                    "value": cell.numerator,
                    "numerator": cell.numerator,
                    "denominator": None,
                    "households": cell.households,
                }
            )
    return rows


def village_cells(prefix: str, month: str, now: dt.datetime | None = None) -> dict[str, Cells]:
    """Every indicator of every village under `prefix` (a county) for one month: village code → cells."""
    start, end = month_bounds(month, now)
    out: dict[str, Cells] = defaultdict(lambda: defaultdict(Cell))

    def add(village: str, code: str, dim: str = "", num: float = 1.0, den: float = 0.0, hh: int = 1) -> None:
        cell = out[village][(code, dim)]
        cell.numerator += num
        cell.denominator += den
        cell.households += hh

    # -- the monitored roster at month end (cases.monitoring: identified by then, minus eliminated) --
    county_cases = Case.objects.filter(village__prefix__startswith=prefix)
    ident = list(
        monitoring.identified(county_cases, at=end).values(
            "id", "household_id", "village_id", "category", "risk_types", "lead__channel", "monitored_at"
        )
    )
    still = set(monitoring.monitored(county_cases, at=end).values_list("id", flat=True))
    stock = [c for c in ident if c["id"] in still]
    members = dict(
        Household.objects.filter(id__in=[c["household_id"] for c in stock])
        .annotate(n=Count("memberships", filter=Q(memberships__end_date__isnull=True)))
        .values_list("id", "n")
    )
    monitored_households = {c["household_id"] for c in stock}
    for c in ident:  # elimination rate: eliminated so far / ever monitored
        add(c["village_id"], "elimination_rate", num=float(c["id"] not in still), den=1.0)
        if c["monitored_at"] and start <= c["monitored_at"] < end:
            add(c["village_id"], "new_inclusions")
    for c in stock:
        v = c["village_id"]
        add(v, "monitored_households")
        if c["category"]:
            add(v, "monitored_households", f"category:{c['category']}")
        for risk in filter(None, (c["risk_types"] or "").split(";")):
            add(v, "monitored_households", f"risk:{risk}")
        add(v, "monitored_persons", num=float(members.get(c["household_id"], 0)))
        channel = c["lead__channel"] or "pre_system"
        add(v, "found_by_system_share", num=float(channel == Channel.DEPARTMENT), den=1.0)
        for name in CHANNEL_NAMES:  # every channel's share has the whole roster as denominator
            add(v, "found_by_system_share", f"channel:{name}", num=float(channel == name), den=1.0)
    for (village,) in Case.objects.filter(
        kind="elimination",
        state="eliminated",
        village__prefix__startswith=prefix,
        decided_at__gte=start,
        decided_at__lt=end,
    ).values_list("village_id"):
        add(village, "eliminations")

    # -- warnings of the month's screening and what became of them --
    leads = Lead.objects.filter(
        village__prefix__startswith=prefix, period=month, channel=Channel.DEPARTMENT, kind=LeadKind.VERIFY
    ).values_list("village_id", "status", "outcome")
    for village, status, outcome in leads:
        verified = status == "in_case" or outcome in (Outcome.CONFIRMED, Outcome.NOT_CONFIRMED)
        confirmed = outcome == Outcome.CONFIRMED
        add(village, "warnings_issued")
        add(village, "warnings_verified", num=float(verified), hh=int(verified))
        add(village, "warnings_confirmed", num=float(confirmed), hh=int(confirmed))
        add(village, "warnings_per_confirmed", num=1.0, den=float(confirmed), hh=int(confirmed))

    # -- door-to-door verification load and the procedure's speed --
    for (village,) in Case.objects.filter(
        kind="identification",
        village__prefix__startswith=prefix,
        lead__isnull=False,
        opened_at__gte=start,
        opened_at__lt=end,
    ).values_list("village_id"):
        add(village, "leads_verified_per_village")
    for village, found, decided, deadline in Case.objects.filter(
        kind="identification", village__prefix__startswith=prefix, decided_at__gte=start, decided_at__lt=end
    ).values_list("village_id", "found_at", "decided_at", "deadline_at"):
        if decided is None:  # excluded by the filter; for the type checker
            continue
        out[village][("decision_days", "")].durations.append(
            round((decided - found).total_seconds() / 86400, 2)
        )
        add(village, "within_deadline_share", num=float(decided <= deadline), den=1.0)
    for (village,) in (
        Case.objects.filter(village__prefix__startswith=prefix, opened_at__lt=end, deadline_at__lt=end)
        .filter(Q(decided_at__isnull=True) | Q(decided_at__gte=end))
        .exclude(state__in=[str(s) for s in FINAL_STATES], decided_at__isnull=True)
        .values_list("village_id")
    ):
        add(village, "overdue_cases")

    # -- assistance coverage of the roster at month end, by measure type --
    covered: dict[tuple[str, str], set[int]] = defaultdict(set)
    end_day = (end - dt.timedelta(microseconds=1)).astimezone(TZ).date()
    for village, household, type_name in (
        Measure.objects.filter(
            plan__village__prefix__startswith=prefix,
            plan__household_id__in=monitored_households,
            start_date__lte=end_day,
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=end_day))
        .exclude(status__in=[MeasureStatus.STOPPED, MeasureStatus.PLANNED])
        .values_list("plan__village_id", "plan__household_id", "measure_type__name")
    ):
        covered[(village, "")].add(household)
        covered[(village, type_name)].add(household)
    roster_by_village: dict[str, int] = defaultdict(int)
    for c in stock:
        roster_by_village[c["village_id"]] += 1
    names = {name for _, name in covered}
    for village, n in roster_by_village.items():
        for name in names:
            got = len(covered.get((village, name), ()))
            add(
                village,
                "assistance_coverage",
                f"type:{name}" if name else "",
                num=float(got),
                den=float(n),
                hh=n,
            )

    # -- income of the monitored households (the latest portrait a lead carried) vs the line --
    line = _line(int(month[:4]))
    latest: dict[int, tuple[str, str, dict[str, Any]]] = {}
    for household, village, period, snapshot in (
        Lead.objects.filter(household_id__in=monitored_households, period__lte=month)
        .exclude(portrait_snapshot={})
        .order_by("household_id", "period", "id")
        .values_list("household_id", "village_id", "period", "portrait_snapshot")
    ):
        latest[household] = (village, period, snapshot)
    for village, _period, snapshot in latest.values():
        income = snapshot.get("net_income_pc_12m")
        if income is None:
            continue
        add(village, "income_pc", num=float(income), den=1.0)
        add(village, "below_line_share", num=float(float(income) < line), den=1.0)
    return out


def _line(year: int) -> float:
    from fangpin.warnings.screening import monitoring_line

    return monitoring_line(year)


def rollup(villages: dict[str, Cells], lengths: Iterable[int]) -> dict[str, Cells]:
    """Add the village cells up to the given prefix lengths (township 9, county 6, …)."""
    out: dict[str, Cells] = defaultdict(lambda: defaultdict(Cell))
    for village, cells in villages.items():
        for n in lengths:
            target = out[village[:n]]
            for key, cell in cells.items():
                target[key].add(cell)
    return out
