"""Indicators are pre-aggregated per region and month, add up correctly, and survive a crash mid-refresh."""

from __future__ import annotations

import pytest

from fangpin.analytics.models import Indicator, RefreshRun
from fangpin.analytics.refresh import refresh_changed, refresh_month

from .factory import at, case, household, lead, monitored_via_warning

A, A2, B, C = "360722100200", "360722100201", "360722101200", "360731100200"
NOW = at("2026-11-05")


def value(region: str, code: str, dimension: str = "", month: str = "2026-10") -> float | None:
    return Indicator.objects.get(region=region, month=month, code=code, dimension=dimension).value


@pytest.fixture
def workflow(world: object) -> None:
    # village A: six department warnings of October, three confirmed and monitored (one decided late)
    monitored_via_warning(A, found="2026-10-02", decided="2026-10-10", income=6000)
    monitored_via_warning(A, found="2026-10-03", decided="2026-10-12", income=9000)
    monitored_via_warning(A, found="2026-10-01", decided="2026-10-25", income=7000)
    for _ in range(2):
        lead(A, household(A), status="closed", outcome="not_confirmed")
    lead(A, household(A))
    # village B: found by a cadre's report; county C: on the roster before the system (no lead)
    monitored_via_warning(B, found="2026-10-05", decided="2026-10-15", channel="cadre_report")
    case(C, household(C), found="2026-09-01", decided="2026-09-10", state="monitored")
    # an open case in A2, past its deadline at the end of October
    hh = household(A2)
    case(A2, hh, lead=lead(A2, hh, status="in_case"), found="2026-10-08")


def test_refresh_computes_roster_funnel_speed_and_load_per_region(workflow: None) -> None:
    run = refresh_month("2026-10", now=NOW)
    assert run.status == "done" and run.counties_done == ["360722", "360731"]
    assert value(A, "monitored_households") == 3 and value("360722100", "monitored_households") == 3
    assert value("360722", "monitored_households") == 4 and value("36", "monitored_households") == 5
    assert value("360722", "monitored_persons") == 8
    assert value("360722", "monitored_households", "category:marginal") == 4
    # the seed's ratios: warnings per confirmed household, share first found by the system
    assert value(A, "warnings_issued") == 6 and value(A, "warnings_confirmed") == 3
    assert value(A, "warnings_per_confirmed") == 2.0
    assert value("360722", "found_by_system_share") == 0.75
    assert value("36", "found_by_system_share") == 3 / 5
    assert value("36", "found_by_system_share", "channel:pre_system") == 1 / 5
    # leads sent door to door: 5 cases opened from leads in October over the county's 3 villages
    assert value("360722", "leads_verified_per_village") == pytest.approx(5 / 3)
    assert value("3607", "leads_verified_per_village") == pytest.approx(5 / 4)
    # lead to decision: 8, 9, 24 and 10 days; one of four past the 15-day limit
    assert value("360722", "decision_days", "median") == pytest.approx(9.5)
    assert value("360722", "within_deadline_share") == 0.75
    assert value("36", "decision_days", "median") == pytest.approx(9.5)
    assert value("360722", "overdue_cases") == 1 and value(A2, "overdue_cases") == 1
    assert value(A, "income_pc") == pytest.approx(22000 / 3)
    assert value(A, "below_line_share") == pytest.approx(2 / 3)
    assert value("360731", "monitored_households", month="2026-10") == 1
    # a figure with nothing behind it is not stored (the dashboards read a missing count as 0)
    assert not Indicator.objects.filter(region="360731", month="2026-10", code="new_inclusions").exists()


def test_a_crash_mid_refresh_resumes_and_ends_equal_to_a_clean_run(workflow: None) -> None:
    def snapshot() -> set[tuple[object, ...]]:
        return set(
            Indicator.objects.values_list(
                "region", "month", "code", "dimension", "value", "numerator", "denominator", "households"
            )
        )

    refresh_month("2026-10", now=NOW)
    clean = snapshot()
    Indicator.objects.all().delete()
    RefreshRun.objects.all().delete()
    with pytest.raises(RuntimeError):
        refresh_month("2026-10", now=NOW, fail_after=1)
    run = RefreshRun.objects.get()
    assert run.status == "failed" and run.counties_done == ["360722"]
    assert not Indicator.objects.filter(region__startswith="360731").exists()
    resumed = refresh_month("2026-10", now=NOW)
    assert resumed.pk == run.pk and resumed.status == "done"
    assert snapshot() == clean


def test_only_changed_months_are_refreshed(workflow: None) -> None:
    assert refresh_changed(["2026-09", "2026-10"]) == ["2026-09", "2026-10"]
    assert refresh_changed(["2026-09", "2026-10"]) == []
    monitored_via_warning(A, found="2026-10-20", decided="2026-10-28")
    assert refresh_changed(["2026-10"]) == ["2026-10"]
