"""Risk elimination mirrors identification, guarded by the elimination conditions; the record stays."""

from __future__ import annotations

import pytest

from fangpin.cases import actions, monitoring
from fangpin.cases.models import Case

from .conftest import ELIMINATION_VISIT

pytestmark = pytest.mark.django_db


def test_a_monitored_household_is_eliminated_and_stops_being_monitored(walk, world) -> None:
    case = walk("eliminated", kind="elimination")
    assert case.state == "eliminated" and case.decided_at is not None
    assert case.identification.state == "monitored"  # the identification record stays
    assert not monitoring.monitored_households().exists()


def test_after_elimination_the_household_can_re_enter(walk, world, make_lead) -> None:
    walk("eliminated", kind="elimination")
    again = actions.open_case(
        make_lead(period="2027-01"), actor=world.users["zhang_township"], assignee=world.users["xiao_grid"]
    )
    assert again.kind == "identification" and again.state == "verifying"
    assert Case.objects.filter(household=world.households["own"]).count() == 3


def _to_county(walk, world, visit):
    case = walk("verifying", kind="elimination")
    users = world.users
    case = actions.submit(
        case, "submit_visit", actor=users["xiao_grid"], payload={**visit, "version": case.version}
    )
    case = actions.submit(
        case,
        "village_review",
        actor=users["liu_cadre"],
        payload={
            "version": case.version,
            "meeting_date": "2026-11-01",
            "attendees": 9,
            "votes_for": 9,
            "result": "同意",
        },
    )
    from datetime import timedelta

    case = actions.submit(
        case,
        "end_publicity",
        actor=users["liu_cadre"],
        payload={"version": case.version},
        at=case.publicity_started_at + timedelta(days=5),
    )
    case = actions.submit(
        case, "township_approve", actor=users["zhang_township"], payload={"version": case.version}
    )
    assert case.state == "county_approval"
    return case


def test_income_above_the_line_for_less_than_six_months_blocks_elimination(walk, world) -> None:
    case = _to_county(walk, world, {**ELIMINATION_VISIT, "months_above_line": 4})
    with pytest.raises(actions.Refused, match="不足 6 个月"):
        actions.submit(
            case, "county_approve", actor=world.users["wang_county"], payload={"version": case.version}
        )


def test_unsecured_housing_or_a_new_risk_blocks_elimination(walk, world) -> None:
    case = _to_county(walk, world, {**ELIMINATION_VISIT, "housing_ok": False, "new_risk": True})
    with pytest.raises(actions.Refused, match="住房安全未保障；存在新的风险"):
        actions.submit(
            case, "county_approve", actor=world.users["wang_county"], payload={"version": case.version}
        )


def test_a_household_without_labour_capacity_is_held_not_eliminated(walk, world) -> None:
    case = _to_county(walk, world, {**ELIMINATION_VISIT, "able_members": 0})
    with pytest.raises(actions.Refused, match="无劳动能力"):
        actions.submit(
            case, "county_approve", actor=world.users["wang_county"], payload={"version": case.version}
        )
    case = actions.submit(
        case,
        "hold",
        actor=world.users["wang_county"],
        payload={"version": case.version, "reason": "无劳动能力，兜底保障后继续监测"},
    )
    assert case.state == "held"
    assert monitoring.monitored_households().get() == world.households["own"]


def test_the_lake_months_override_the_form_when_the_lake_knows(walk, world) -> None:
    from fangpin.cases.transitions import elimination_blockers

    assert elimination_blockers(
        {**ELIMINATION_VISIT, "months_above_line": 12}, {"months_above_line": 3, "months_checked": 6}
    )
    assert not elimination_blockers(
        {**ELIMINATION_VISIT, "months_above_line": 2}, {"months_above_line": 6, "months_checked": 6}
    )


def test_elimination_needs_a_monitored_household(world) -> None:
    lead_case = None
    from fangpin.warnings.models import Lead

    household = world.households["own"]
    lead = Lead.objects.create(
        household=household,
        village_id=household.village_id,
        channel="department",
        kind="consider_elimination",
        period="2026-10",
    )
    with pytest.raises(actions.CaseError, match="不是监测对象"):
        lead_case = actions.open_case(
            lead, actor=world.users["zhang_township"], assignee=world.users["xiao_grid"]
        )
    assert lead_case is None


def test_a_consider_elimination_lead_opens_an_elimination_case(walk, world) -> None:
    from fangpin.warnings.models import Lead

    base = walk("monitored")
    household = world.households["own"]
    lead = Lead.objects.create(
        household=household,
        village_id=household.village_id,
        channel="department",
        kind="consider_elimination",
        period="2026-11",
    )
    case = actions.open_case(lead, actor=world.users["zhang_township"], assignee=world.users["xiao_grid"])
    assert case.kind == "elimination" and case.identification == base


def test_a_short_lake_history_all_above_the_line_leaves_the_count_to_the_visit() -> None:
    from fangpin.cases.transitions import elimination_blockers

    assert not elimination_blockers(
        {**ELIMINATION_VISIT, "months_above_line": 8}, {"months_above_line": 3, "months_checked": 3}
    )
    assert elimination_blockers(
        {**ELIMINATION_VISIT, "months_above_line": 8}, {"months_above_line": 2, "months_checked": 3}
    )


def test_elimination_ends_the_open_measures_but_keeps_continuing_ones(walk, world) -> None:
    import datetime as dt

    from fangpin.assistance import actions as assistance
    from fangpin.assistance.models import MeasureType
    from fangpin.regions.models import Region

    case = _to_county(walk, world, ELIMINATION_VISIT)
    county = Region.objects.get(prefix=case.village_id[:6])
    assistance.seed_toolbox(county)
    plan = assistance.create_plan(case.identification, actor=world.users["zhang_township"])
    ending = MeasureType.objects.filter(
        county=county, continues_after_elimination=False, per_person=False
    ).first()
    continuing = MeasureType.objects.filter(
        county=county, continues_after_elimination=True, per_person=False
    ).first()
    assert ending is not None and continuing is not None
    for measure_type in (ending, continuing):
        assistance.add_measure(
            plan,
            actor=world.users["zhang_township"],
            measure_type=measure_type,
            start_date=dt.date(2026, 6, 1),
        )
    actions.submit(
        case, "county_approve", actor=world.users["wang_county"], payload={"version": case.version}
    )
    statuses = dict(plan.measures.values_list("measure_type__code", "status"))
    assert statuses[ending.code] == "done"
    assert statuses[continuing.code] != "done"
