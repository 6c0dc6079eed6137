"""Who is monitored (cases/monitoring.py): one definition, and every page that counts agrees with it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from fangpin.cases import actions, monitoring
from fangpin.cases.models import Case

pytestmark = pytest.mark.django_db

TZ = dt.timezone(dt.timedelta(hours=8))
HELPED = dt.datetime(2026, 10, 10, 9, 0, tzinfo=TZ)  # the green channel: helped first
REJECTED = dt.datetime(2026, 11, 3, 15, 0, tzinfo=TZ)  # the procedure that followed: 不予纳入
OCTOBER_END = dt.datetime(2026, 11, 1, tzinfo=TZ)


def _green_channel(make_lead: Any, world: Any) -> Case:
    return actions.open_case(
        make_lead(risk_types="05", category="sudden"),
        actor=world.users["zhang_township"],
        assignee=world.users["xiao_grid"],
        green_channel=True,
        reason="车祸重伤，事实清楚",
        at=HELPED,
    )


def _reject(case: Case, world: Any) -> Case:
    return actions.submit(
        case,
        "reject",
        actor=world.users["xiao_grid"],
        payload={"version": case.version, "reason": "入户核实：家庭有在营企业，不符合条件"},
        at=REJECTED,
    )


def test_a_green_channel_household_is_monitored_until_its_procedure_rejects_it(make_lead, world) -> None:
    case = _green_channel(make_lead, world)
    assert list(monitoring.monitored()) == [case]
    case = _reject(case, world)
    assert case.state == "rejected" and case.decided_at == REJECTED
    assert not monitoring.monitored().exists() and not monitoring.identified().exists()
    # a past month is read as it stood: October's roster had the household, November's has not
    assert list(monitoring.monitored(at=OCTOBER_END)) == [case]
    assert not monitoring.monitored(at=REJECTED + dt.timedelta(seconds=1)).exists()
    assert not monitoring.monitored(at=HELPED).exists()  # strictly before `at`


def test_an_eliminated_household_leaves_the_monitored_list_but_stays_on_the_roster(walk, world) -> None:
    elimination = walk("eliminated", kind="elimination")
    identification = elimination.identification
    assert not monitoring.monitored().exists()
    assert list(monitoring.identified()) == [identification]  # the 台账 keeps the record
    assert list(monitoring.monitored(at=elimination.decided_at)) == [identification]


def test_a_held_elimination_keeps_the_household_monitored(walk, world) -> None:
    elimination = walk("county_approval", kind="elimination")
    actions.submit(
        elimination,
        "hold",
        actor=world.users["wang_county"],
        payload={"version": elimination.version, "reason": "收入尚不稳定，继续监测"},
    )
    assert list(monitoring.monitored_households()) == [world.households["own"]]


def _counted_on_every_page(world: Any, client_for: Any, month: str) -> dict[str, int]:
    """How many monitored households each page and export that counts them shows, for village A."""
    from fangpin.analytics import exports
    from fangpin.analytics.models import Indicator
    from fangpin.analytics.refresh import refresh_month
    from fangpin.assistance import roster
    from fangpin.regions.models import Region
    from fangpin.warnings.actions import monitored_risks

    county = client_for("wang_county")
    analyst = client_for("chen_analyst")
    village = "360722100200"
    refresh_month(month, now=dt.datetime(2026, 12, 7, tzinfo=TZ))
    indicator = Indicator.objects.filter(
        region=village, month=month, code="monitored_households", dimension=""
    )
    return {
        "case list": county.get("/cases/").context["counts"]["monitored"],
        "assistance plans": county.get("/assistance/").context["page"].paginator.count,
        "roster page": county.get("/assistance/roster/").context["count"],
        "roster export": len(list(roster.rows(Case.objects.all(), reveal=False))),
        "analytics households": analyst.get(f"/analytics/region/{village}/households/")
        .context["page"]
        .paginator.count,
        "analytics export": exports.monitored_cases(
            world.users["chen_analyst"], Region.objects.get(prefix=village)
        ).count(),
        f"indicator {month}": int(indicator.get().value) if indicator.exists() else 0,
        "warnings (risks already helped)": len(monitored_risks([world.households["own"].pk])),
    }


def test_a_green_channel_case_later_rejected_counts_the_same_on_every_page(
    make_lead, world, client_for
) -> None:
    case = _green_channel(make_lead, world)
    while_helped = _counted_on_every_page(world, client_for, "2026-10")
    assert set(while_helped.values()) == {1}, while_helped
    _reject(case, world)
    after = _counted_on_every_page(world, client_for, "2026-11")
    assert set(after.values()) == {0}, after
    october = _counted_on_every_page(world, client_for, "2026-10")["indicator 2026-10"]
    assert october == 1  # October's figure does not change when November rejects the case
