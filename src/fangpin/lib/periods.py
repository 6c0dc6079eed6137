"""Delivery periods (YYYY-MM): the months everything in fangpin is counted by."""

from __future__ import annotations

import datetime as dt


def recent_periods(months: int, today: dt.date) -> list[str]:
    """The last `months` months up to and including today's, oldest first."""
    year, month = today.year, today.month
    periods = []
    for _ in range(months):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return periods[::-1]


def month_end(period: str) -> dt.date:
    first = dt.date.fromisoformat(f"{period}-01")
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def next_month(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"
