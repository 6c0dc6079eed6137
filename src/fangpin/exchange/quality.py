"""Data quality per department and month: on time or late, rows, rejection rate by reason, link rate,
and the alerts a provincial data office acts on (a department late, a rejection rate that jumps)."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import QuerySet

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, Status
from fangpin.lib.periods import next_month, recent_periods
from fangpin.pipeline.catalog import Dataset

DELIVERED = (Status.ACCEPTED, Status.DUPLICATE)


@dataclass
class Cell:
    expected: int
    delivered: int = 0
    late: int = 0
    read: int = 0
    rejected: int = 0
    accepted: int = 0
    linked: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.read if self.read else 0.0

    @property
    def link_rate(self) -> float:
        return self.linked / self.accepted if self.accepted else 0.0

    @property
    def missing(self) -> int:
        return max(self.expected - self.delivered, 0)


@dataclass
class QualityTable:
    periods: list[str]
    rows: dict[str, dict[str, Cell]]  # department → period → cell
    department_zh: dict[str, str]
    due: dict[str, dt.date]  # period → the day its deliveries are due


def due_date(period: str) -> dt.date:
    """Deliveries for period P are due on day N of the following month (FANGPIN_DELIVERY_DUE_DAY)."""
    return dt.date.fromisoformat(f"{next_month(period)}-{settings.FANGPIN_DELIVERY_DUE_DAY:02d}")


def department_months(
    deliveries: QuerySet[Delivery], months: int, today: dt.date, department: str | None = None
) -> QualityTable:
    """One row per department (only `department` for a data officer), one cell per month."""
    catalog = actions.active_catalog()
    periods = recent_periods(months, today)
    per_department: dict[str, list[Dataset]] = {}
    for spec in catalog.datasets.values():
        per_department.setdefault(spec.department, []).append(spec)
    # Nothing is expected for months before the exchange's first delivery (the system did not exist yet).
    first = (
        deliveries.model.objects.filter(status__in=DELIVERED)
        .order_by("period")
        .values_list("period", flat=True)
        .first()
    )
    rows = {
        dep: {
            p: Cell(expected=sum(d.due_in(p) for d in specs) if first is not None and p >= first else 0)
            for p in periods
        }
        for dep, specs in per_department.items()
    }
    seen: set[tuple[str, str]] = set()
    for d in deliveries.filter(period__in=periods, status__in=DELIVERED).order_by("received_at"):
        if d.department not in rows:
            continue
        cell = rows[d.department][d.period]
        if (d.dataset, d.period) not in seen:
            seen.add((d.dataset, d.period))
            cell.delivered += 1
            if d.received_at.date() > due_date(d.period):
                cell.late += 1
        cell.read += d.read
        cell.rejected += d.rejected
        cell.accepted += d.accepted
        cell.linked += d.linked
        for code, n in d.reasons.items():
            cell.reasons[code] = cell.reasons.get(code, 0) + n
    if department is not None:
        rows = {department: rows[department]} if department in rows else {}
    return QualityTable(
        periods=periods,
        rows=rows,
        department_zh={k: v.zh for k, v in catalog.departments.items()},
        due={p: due_date(p) for p in periods},
    )


@dataclass(frozen=True)
class Alert:
    department: str
    period: str
    kind: str  # "late" | "rejection_jump"
    message: str


def alerts(table: QualityTable, today: dt.date | None = None) -> list[Alert]:
    """One 'late' alert per department listing its overdue months, and one per rejection-rate jump."""
    today = today or dt.date.today()  # noqa: DTZ011 - compared with calendar due dates
    found: list[Alert] = []
    for department, cells in table.rows.items():
        name = table.department_zh.get(department, department)
        overdue = [(p, cells[p].missing) for p in table.periods if cells[p].missing and today > table.due[p]]
        if overdue:
            months = "、".join(f"{p}（缺{n}个）" for p, n in overdue)
            found.append(Alert(department, overdue[-1][0], "late", f"{name} 逾期未交付：{months}"))
        history: list[float] = []
        for period in table.periods:
            cell = cells[period]
            if not cell.read:
                continue
            rate = cell.rejection_rate
            baseline = statistics.median(history) if history else None
            if baseline is not None and rate > 0.01 and rate > max(2 * baseline, baseline + 0.05):
                message = f"{name} {period} 拒收率 {rate:.1%}，明显高于此前中位数 {baseline:.1%}"
                found.append(Alert(department, period, "rejection_jump", message))
            history.append(rate)
    return found
