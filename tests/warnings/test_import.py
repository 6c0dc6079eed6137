"""Screening → leads: one lead per pushed warning, idempotent per household/period/kind, monitored
households not re-warned for a known risk, duplicates merged with the provenance of both."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fangpin.warnings import actions, screening
from fangpin.warnings.models import Lead, LeadSource, ScreeningRun
from screening.tinylake import put


def _stay(lake, world, place: str, self_pay: float, period: str = "2026-10", n: int = 1) -> None:
    person = world.persons[place]
    put(
        lake,
        "ms_settlement",
        period,
        [
            {
                "settlement_id": f"T{n}",
                "id_number": person.id_number,
                "settle_date": dt.date(2026, 10, 5),
                "visit_type": "inpatient",
                "total_cost": self_pay * 2,
                "basic_paid": self_pay * 0.8,
                "critical_paid": self_pay * 0.2,
                "assistance_paid": 0,
                "self_pay": self_pay,
                "person_key": person.pk,
                "household_key": world.households[place].pk,
            }
        ],
    )


def test_a_screening_stores_one_lead_per_pushed_warning(world, world_lake) -> None:
    _stay(world_lake, world, "own", 40000)
    run = screening.screen_period("2026-10")
    lead = Lead.objects.get()
    assert (run.created, run.updated, run.warnings) == (1, 0, 1)
    assert run.households == 3 and run.finished_at is not None
    assert (lead.household, lead.village_id) == (world.households["own"], world.households["own"].village_id)
    assert lead.policy_id == "jx-default" and lead.policy_hash == run.policy_hash
    assert lead.provenance[0]["run"] == run.pk and lead.provenance[0]["channel"] == "department"
    # the snapshot holds what the matched rules read, JSON-safe, plus the context columns
    assert {"max_inpatient_self_pay_12m", "members", "net_income_pc_12m"} <= set(lead.portrait_snapshot)
    assert lead.datasets == ["ms_settlement"]
    assert list(LeadSource.objects.values_list("dataset", "department")) == [
        ("ms_settlement", "medical_security")
    ]


def test_importing_the_same_period_again_updates_instead_of_duplicating(
    world, world_lake, audit_rows
) -> None:
    _stay(world_lake, world, "own", 40000)
    screening.screen_period("2026-10")
    again = screening.screen_period("2026-10")
    assert Lead.objects.count() == 1
    assert (again.created, again.updated) == (0, 1)
    assert len(Lead.objects.get().provenance) == 2
    assert ScreeningRun.objects.count() == 2
    assert len(audit_rows("SCREENING_IMPORTED")) == 2


def test_a_rejected_lead_is_not_re_created_for_the_same_period(world, world_lake) -> None:
    _stay(world_lake, world, "own", 40000)
    screening.screen_period("2026-10")
    lead = Lead.objects.get()
    actions.reject_lead(lead, actor=world.user("zhang_township"), reason="已核实为一次性支出，已报销")
    run = screening.screen_period("2026-10")
    assert run.skipped == 1 and Lead.objects.count() == 1
    assert Lead.objects.get().status == "rejected"


def _monitored(world, place: str, risk_types: str):
    from fangpin.cases.models import Case

    household = world.households[place]
    now = timezone.now()
    return Case.objects.create(
        household=household,
        village_id=household.village_id,
        kind="identification",
        state="monitored",
        monitored_at=now,  # 录入 sets it (cases.monitoring counts only cases taken into monitoring)
        risk_types=risk_types,
        found_at=now,
        opened_at=now,
        deadline_at=now + dt.timedelta(days=15),
    )


def test_a_household_monitored_for_the_same_risk_is_not_warned_again(world, world_lake) -> None:
    _monitored(world, "own", "01")
    _stay(world_lake, world, "own", 40000)
    run = screening.screen_period("2026-10")
    assert run.skipped == 1
    assert not Lead.objects.exists()


def test_a_new_risk_for_a_monitored_household_becomes_an_adjust_assistance_lead(world, world_lake) -> None:
    _monitored(world, "own", "02")  # monitored for a disaster; now a costly hospital stay
    _stay(world_lake, world, "own", 40000)
    screening.screen_period("2026-10")
    lead = Lead.objects.get()
    assert lead.kind == "adjust_assistance"
    assert lead.risk_type_list() == ["01"]


def test_an_eliminated_household_is_screened_like_any_other(world, world_lake) -> None:
    from fangpin.cases.models import Case

    case = _monitored(world, "own", "01")
    now = timezone.now()
    Case.objects.create(
        household=case.household,
        village_id=case.village_id,
        kind="elimination",
        state="eliminated",
        identification=case,
        found_at=now,
        opened_at=now + dt.timedelta(seconds=1),
        deadline_at=now + dt.timedelta(days=15),
    )
    _stay(world_lake, world, "own", 40000)
    screening.screen_period("2026-10")
    assert Lead.objects.get().kind == "verify"


def test_a_department_warning_merges_into_an_open_self_declaration(world, world_lake, client) -> None:
    own = world.households["own"]
    declared = actions.declare(
        village=own.village,
        name="肖凤香",
        id_number=world.persons["own"].id_number,
        phone="13812345678",
        reason_category="01",
        reason_text="住院花了很多钱",
        client_key="k",
    )
    _stay(world_lake, world, "own", 40000)
    run = screening.screen_period("2026-10")
    assert run.merged == 1
    department = Lead.objects.get(channel="department")
    declared.refresh_from_db()
    assert (department.status, department.merged_into) == ("merged", declared)
    assert declared.status == "new"
    channels = [p["channel"] for p in declared.provenance]
    assert channels == ["self_declaration", "department"]  # both provenances kept
    assert "MED-01" in declared.rules and declared.grade
    assert declared.portrait_snapshot  # the screening's facts now on the lead in the queue
    assert LeadSource.objects.filter(lead=declared, department="medical_security").exists()
    # re-importing updates the merged department lead, no new lead and no repeated provenance
    screening.screen_period("2026-10")
    declared.refresh_from_db()
    assert Lead.objects.count() == 2
    assert [p["channel"] for p in declared.provenance] == ["self_declaration", "department"]


def test_the_outcome_reaches_the_merged_department_lead(world, world_lake) -> None:
    own = world.households["own"]
    declared = actions.declare(
        village=own.village,
        name="肖凤香",
        id_number=world.persons["own"].id_number,
        phone="13812345678",
        reason_category="01",
        reason_text="",
        client_key="k",
    )
    _stay(world_lake, world, "own", 40000)
    screening.screen_period("2026-10")
    actions.record_outcome(declared, "confirmed", actor=world.user("wang_county"))
    department = Lead.objects.get(channel="department")
    assert department.outcome == "confirmed" and department.outcome_at is not None
    declared.refresh_from_db()
    assert declared.status == "closed"


@pytest.mark.parametrize("kind", ["verify", "adjust_assistance"])
def test_a_merged_lead_keeps_risk_types_to_five(world, make_lead, kind) -> None:
    own = world.households["own"]
    first = make_lead(own, kind=kind, risk_types="01;02;03", channel="cadre_report")
    second = make_lead(own, kind=kind, risk_types="04;05;06", channel="cadre_report")
    actions.merge_leads(first, second, actor=world.user("zhang_township"))
    first.refresh_from_db()
    assert first.risk_type_list() == ["01", "02", "03", "04", "05"]


def test_each_township_gets_one_message_per_screening(world, world_lake) -> None:
    from fangpin.notifications.models import Notification

    _stay(world_lake, world, "own", 40000)
    _stay(world_lake, world, "sibling", 50000, n=2)
    screening.screen_period("2026-10")
    assert [n.title for n in Notification.objects.filter(recipient=world.user("zhang_township"))] == [
        "部门筛查新增1条预警线索（2026-10），请受理"
    ]
    assert Notification.objects.filter(recipient=world.user("li_township_b")).count() == 1


def _result(world, places_grades: list[tuple[object, str]], policy) -> object:
    """A hand-made screening result: one pushed verification warning per (household, grade)."""
    import pyarrow as pa

    from fangpin.pipeline.screen import OUTPUT_SCHEMA, ScreenResult

    rows = [
        {
            "household_key": h.pk,
            "household_no": h.household_no,
            "village_code": h.village_id,
            "household_type": "former_poor",
            "monitor_status": "none",
            "score": 0.5,
            "grade": grade,
            "risk_types": "01",
            "category": "unstable",
            "rules": "MED-01",
            "reasons": "近12个月单次住院自付1.2万元",
            "prompt": "verify",
            "village_rank": 1,
            "pushed": True,
            "net_income_pc_12m": 7000.0,
            "explanation": "住院自付较高",
        }
        for h, grade in places_grades
    ]
    table = pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
    portraits = pa.table({"household_key": pa.array([h.pk for h, _ in places_grades], pa.int64())})
    return ScreenResult(
        "2026-10", policy.policy_id, policy.content_hash, 8300.0, table, table, portraits, "m-1"
    )


def test_the_incremental_path_weighs_a_warning_against_the_villages_capacity(world, make_lead) -> None:
    from conftest import VILLAGE_A, make_household

    policy = screening.active_policy()
    neighbours = [
        make_household(f"{VILLAGE_A}{9000 + i}", VILLAGE_A, [(f"邻居{i}", "01", dt.date(1970, 1, 1), True)])
        for i in range(policy.capacity_per_village)
    ]
    for h in neighbours:
        make_lead(h)  # this month's department verification leads of the village: capacity used up
    own = world.households["own"]
    routine = actions.import_screening(_result(world, [(own, "中")], policy), policy=policy, capacity=3)
    assert (routine.created, routine.skipped) == (0, 1)
    severe = actions.import_screening(_result(world, [(own, "高")], policy), policy=policy, capacity=3)
    assert severe.created == 1
    lead = Lead.objects.get(household=own)
    assert (lead.model_version, lead.explanation) == ("m-1", "住院自付较高")
    # the monthly batch (no capacity argument) already ranked within capacity: it stores what was pushed
    other = world.households["sibling"]
    batch = actions.import_screening(_result(world, [(other, "低")], policy), policy=policy)
    assert batch.created == 1
