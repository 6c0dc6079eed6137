"""Workflow rows for the indicator tests, made directly (the analytics app only reads these tables)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
_counter = iter(range(1000, 100000))


def at(day: str, hour: int = 10) -> dt.datetime:
    y, m, d = map(int, day.split("-"))
    return dt.datetime(y, m, d, hour, tzinfo=TZ)


def household(village: str, members: int = 2) -> Any:
    from conftest import make_household

    n = next(_counter)
    people = [
        (f"测试{i}", "01" if i == 0 else "03", dt.date(1970 + i, 1, 1), i % 2 == 0) for i in range(members)
    ]
    return make_household(f"{village}{n % 10000:04d}", village, people)


def lead(
    village: str,
    hh: Any,
    *,
    period: str = "2026-10",
    channel: str = "department",
    status: str = "new",
    outcome: str = "",
    income: float | None = None,
) -> Any:
    from fangpin.warnings.models import Lead

    snapshot = {"net_income_pc_12m": income} if income is not None else {}
    return Lead.objects.create(
        household=hh,
        village_id=village,
        channel=channel,
        period=period,
        status=status,
        outcome=outcome,
        risk_types="01",
        category="marginal",
        portrait_snapshot=snapshot,
    )


def case(
    village: str,
    hh: Any,
    *,
    lead: Any = None,
    found: str = "2026-10-02",
    decided: str | None = None,
    state: str = "verifying",
    kind: str = "identification",
    category: str = "marginal",
    risk_types: str = "01",
    deadline_days: int = 15,
    identification: Any = None,
) -> Any:
    from fangpin.cases.models import Case

    found_at = at(found)
    decided_at = at(decided) if decided else None
    return Case.objects.create(
        kind=kind,
        household=hh,
        village_id=village,
        lead=lead,
        state=state,
        category=category,
        risk_types=risk_types,
        found_at=found_at,
        opened_at=found_at + dt.timedelta(hours=2),
        deadline_at=found_at + dt.timedelta(days=deadline_days),
        decided_at=decided_at,
        monitored_at=decided_at if state == "monitored" else None,
        identification=identification,
    )


def monitored_via_warning(
    village: str, *, found: str, decided: str, income: float | None = None, channel: str = "department"
) -> Any:
    hh = household(village)
    lc = lead(
        village, hh, channel=channel, status="closed", outcome="confirmed", income=income, period=found[:7]
    )
    return case(village, hh, lead=lc, found=found, decided=decided, state="monitored")
