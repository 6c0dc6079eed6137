"""Delivery periods (YYYY-MM): the months everything in fangpin is counted by. The one home of the
period's format and month arithmetic (issue #15): the pipeline (Django-free), the apps' forms, API, CLI
and views all check and shift periods here."""

from __future__ import annotations

import datetime as dt
import re

# the pattern as text too, for the places that take one (the API schema, a form's RegexField)
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
_PERIOD = re.compile(PERIOD_PATTERN)


class PeriodError(ValueError):
    """Not a period; the message says what one looks like (Chinese first, shown to users as is)."""


def is_period(text: object) -> bool:
    return isinstance(text, str) and _PERIOD.fullmatch(text) is not None


def check_period(period: str) -> str:
    """`period` itself when it is a month written YYYY-MM (month 01–12); otherwise `PeriodError`."""
    if not is_period(period):
        raise PeriodError(
            f"期次格式应为 YYYY-MM，如 2026-10，而不是 {period!r} / period must be YYYY-MM, not {period!r}"
        )
    return period


def shift(period: str, months: int) -> str:
    """The period `months` months after `period` (before it when negative)."""
    year, month = (int(x) for x in check_period(period).split("-"))
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def previous_period(period: str, back: int = 1) -> str:
    return shift(period, -back)


def next_month(period: str) -> str:
    return shift(period, 1)


def period_range(start: str, end: str) -> list[str]:
    """Every period from `start` to `end`, both included; `PeriodError` when the end is before the start."""
    if check_period(end) < check_period(start):
        raise PeriodError(f"期次范围的结束早于开始 / the end {end} is before the start {start}")
    out = [start]
    while out[-1] < end:
        out.append(next_month(out[-1]))
    return out


def recent_periods(months: int, today: dt.date) -> list[str]:
    """The last `months` months up to and including today's, oldest first."""
    current = f"{today.year:04d}-{today.month:02d}"
    return [shift(current, -back) for back in range(months - 1, -1, -1)]


def month_end(period: str) -> dt.date:
    first = dt.date.fromisoformat(f"{check_period(period)}-01")
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
