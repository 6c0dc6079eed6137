"""Periods (YYYY-MM): one check and one month arithmetic (lib/periods.py) for the pipeline and the apps."""

from __future__ import annotations

import datetime as dt

import pytest

from fangpin.lib.periods import (
    PeriodError,
    check_period,
    is_period,
    month_end,
    next_month,
    period_range,
    previous_period,
    recent_periods,
)


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "2026-10\n", " 2026-10", ""]
)
def test_anything_but_a_real_month_is_refused_with_the_format_named(text: str) -> None:
    assert not is_period(text)
    with pytest.raises(PeriodError, match="YYYY-MM") as refused:
        check_period(text)
    assert isinstance(refused.value, ValueError)  # callers that caught ValueError still do
    assert "期次格式应为 YYYY-MM" in str(refused.value)


def test_months_shift_across_the_year() -> None:
    assert check_period("2026-10") == "2026-10"
    assert previous_period("2026-01") == "2025-12" and previous_period("2026-03", back=14) == "2025-01"
    assert next_month("2025-12") == "2026-01"
    assert period_range("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert period_range("2026-02", "2026-02") == ["2026-02"]
    with pytest.raises(PeriodError, match="before the start"):
        period_range("2026-02", "2025-11")


def test_recent_periods_and_month_end() -> None:
    assert recent_periods(3, dt.date(2026, 2, 9)) == ["2025-12", "2026-01", "2026-02"]
    assert month_end("2028-02") == dt.date(2028, 2, 29) and month_end("2026-12") == dt.date(2026, 12, 31)


def test_the_pipeline_and_the_cli_use_it() -> None:
    from fangpin.pipeline.model_cli import parse_periods

    assert parse_periods("2025-12..2026-01") == ["2025-12", "2026-01"]
    with pytest.raises(PeriodError):
        parse_periods("2026-1..2026-03")
