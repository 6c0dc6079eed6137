"""The identification procedure end to end through the actions, and its guards."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fangpin.cases import actions, monitoring
from fangpin.cases.models import Case, CaseStep

from .conftest import VISIT, scan

pytestmark = pytest.mark.django_db


def test_a_lead_walks_to_monitored_with_one_step_and_one_audit_row_per_action(
    walk, world, audit_rows
) -> None:
    case = walk("monitored")
    assert case.state == "monitored" and case.monitored_at is not None and case.decided_at is not None
    assert case.category == "unstable" and case.risk_type_list() == ["01"]
    actions_taken = list(CaseStep.objects.filter(case=case).values_list("action", flat=True))
    assert actions_taken == [
        "open",
        "submit_visit",
        "compare",
        "village_review",
        "end_publicity",
        "township_approve",
        "county_approve",
        "announce",
    ]
    assert len(audit_rows("CASE_SUBMIT_VISIT")) == 1 and len(audit_rows("CASE_ANNOUNCE")) == 1
    case.lead.refresh_from_db()
    assert case.lead.status == "closed" and case.lead.outcome == "confirmed"
    assert monitoring.monitored_households().get() == world.households["own"]


def test_opening_a_case_marks_the_lead_in_case_and_starts_the_clock_at_the_lead(make_lead, world) -> None:
    lead = make_lead()
    case = actions.open_case(lead, actor=world.users["zhang_township"], assignee=world.users["xiao_grid"])
    lead.refresh_from_db()
    assert lead.status == "in_case"
    assert case.state == "verifying" and case.assignee == world.users["xiao_grid"]
    assert case.found_at == lead.created_at
    assert (case.deadline_at.date() - lead.created_at.date()).days in (15, 16)  # end of day 15, Asia/Shanghai


def test_it_refuses_an_assignee_from_another_village(make_lead, world) -> None:
    with pytest.raises(actions.CaseError, match="该村"):
        actions.open_case(
            make_lead(), actor=world.users["zhang_township"], assignee=world.users["zhang_township"]
        )


def test_a_grid_worker_cannot_dispatch(make_lead, world) -> None:
    with pytest.raises(actions.Refused):
        actions.open_case(make_lead(), actor=world.users["xiao_grid"], assignee=world.users["xiao_grid"])


def test_the_visit_needs_the_signed_authorisation(walk, world) -> None:
    case = walk("verifying")
    with pytest.raises(actions.CaseError, match="承诺授权书"):
        actions.submit(
            case, "submit_visit", actor=world.users["xiao_grid"], payload={**VISIT, "version": case.version}
        )


def test_it_rejects_an_authorisation_that_is_not_an_image_or_pdf(walk, world) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = walk("verifying")
    fake = SimpleUploadedFile("授权书.png", b"MZ\x90\x00 not an image", content_type="image/png")
    with pytest.raises(actions.CaseError, match="JPG、PNG 或 PDF"):
        actions.submit(
            case,
            "submit_visit",
            actor=world.users["xiao_grid"],
            payload={**VISIT, "version": case.version},
            files={"authorization": fake},
        )
    assert Case.objects.get(pk=case.pk).state == "verifying"


def test_the_visit_keeps_the_scan_and_runs_the_comparison(walk, world, make_lead) -> None:
    lead = make_lead(
        "sibling",
        portrait_snapshot={"cars": 1, "urban_properties": 0, "active_businesses": 1, "deposits": 80000},
    )
    case = actions.open_case(lead, actor=world.users["wang_county"], assignee=_grid_b(world))
    case = actions.submit(
        case,
        "submit_visit",
        actor=_grid_b(world),
        payload={**VISIT, "version": case.version},
        files={"authorization": scan()},
    )
    assert case.state == "village_review"
    assert set(case.comparison["flags"]) == {"登记有机动车", "有在营市场主体", "存款超过 50,000 元"}
    step = case.steps.get(action="submit_visit")
    assert step.attachment.read().startswith(b"\x89PNG") and step.attachment_type == "image/png"
    assert case.visit["income_pc"] == 4750.0 and case.visit["net_income_pc"] == 2750.0


def _grid_b(world):
    from conftest import VILLAGE_B
    from fangpin.accounts.models import User

    return User.objects.get_or_create(
        username="grid_b", defaults={"role": "grid_worker", "region_id": VILLAGE_B, "full_name": "钟网格"}
    )[0]


def test_publicity_cannot_end_before_five_full_days(walk, world) -> None:
    case = walk("publicity")
    started = case.publicity_started_at
    with pytest.raises(actions.Refused, match="公示须满5天"):
        actions.submit(
            case,
            "end_publicity",
            actor=world.users["liu_cadre"],
            payload={"version": case.version},
            at=started + dt.timedelta(days=4, hours=23),
        )
    case = actions.submit(
        case,
        "end_publicity",
        actor=world.users["liu_cadre"],
        payload={"version": case.version},
        at=started + dt.timedelta(days=5),
    )
    assert case.state == "township_review"


def test_objections_are_recorded_during_publicity(walk, world) -> None:
    case = walk("publicity")
    case = actions.submit(
        case,
        "record_objection",
        actor=world.users["liu_cadre"],
        payload={"version": case.version, "objection": "村民反映该户有经营性收入"},
    )
    assert case.state == "publicity" and case.review["objections"][0]["text"] == "村民反映该户有经营性收入"


def test_the_same_person_cannot_act_at_two_levels(walk, world, make_lead) -> None:
    lead = make_lead()
    case = actions.open_case(lead, actor=world.users["zhang_township"], assignee=world.users["liu_cadre"])
    case = actions.submit(
        case,
        "submit_visit",
        actor=world.users["liu_cadre"],
        payload={**VISIT, "version": case.version},
        files={"authorization": scan()},
    )
    with pytest.raises(actions.Refused, match="同一人不能在两个层级"):
        actions.submit(
            case,
            "village_review",
            actor=world.users["liu_cadre"],
            payload={
                "version": case.version,
                "meeting_date": "2026-11-01",
                "attendees": 9,
                "votes_for": 9,
                "result": "同意",
            },
        )


def test_county_approval_needs_a_category_and_one_to_five_risk_types(walk, world) -> None:
    case = walk("county_approval")
    with pytest.raises(actions.CaseError, match="风险类型"):
        actions.submit(
            case,
            "county_approve",
            actor=world.users["wang_county"],
            payload={
                "version": case.version,
                "category": "unstable",
                "risk_types": ["01", "02", "03", "04", "05", "06"],
            },
        )
    with pytest.raises(actions.CaseError):
        actions.submit(
            case,
            "county_approve",
            actor=world.users["wang_county"],
            payload={"version": case.version, "category": "rich", "risk_types": ["01"]},
        )


def test_rejection_needs_a_reason_and_feeds_back_to_the_lead(walk, world) -> None:
    case = walk("township_review")
    with pytest.raises(actions.CaseError, match="理由"):
        actions.submit(case, "reject", actor=world.users["zhang_township"], payload={"version": case.version})
    case = actions.submit(
        case,
        "reject",
        actor=world.users["zhang_township"],
        payload={"version": case.version, "reason": "家庭有商品房和车辆，不符合条件"},
    )
    assert case.state == "rejected" and case.decided_at is not None
    case.lead.refresh_from_db()
    assert case.lead.outcome == "not_confirmed"


def test_return_for_rework_goes_back_to_an_earlier_step_and_resumes_there(walk, world) -> None:
    case = walk("county_approval")
    with pytest.raises(actions.CaseError, match="退回至"):
        actions.submit(
            case,
            "return_for_rework",
            actor=world.users["wang_county"],
            payload={"version": case.version, "reason": "核实不全", "return_to": "county_approval"},
        )
    case = actions.submit(
        case,
        "return_for_rework",
        actor=world.users["wang_county"],
        payload={"version": case.version, "reason": "收入核实不全，请补充", "return_to": "verifying"},
    )
    assert case.state == "returned" and case.return_to == "verifying"
    case = actions.submit(
        case,
        "submit_visit",
        actor=world.users["xiao_grid"],
        payload={**VISIT, "version": case.version},
        files={"authorization": scan()},
    )
    assert case.state == "village_review" and case.return_to == ""


def test_the_green_channel_monitors_first_and_the_procedure_follows(make_lead, world) -> None:
    lead = make_lead(risk_types="05", category="sudden")
    case = actions.open_case(
        lead,
        actor=world.users["zhang_township"],
        assignee=world.users["xiao_grid"],
        green_channel=True,
        reason="车祸重伤，事实清楚",
    )
    assert case.green_channel and case.monitored_at is not None and case.state == "verifying"
    assert list(monitoring.monitored()) == [case]
    assert case.steps.filter(action="green_channel").get().note == "车祸重伤，事实清楚"


def test_a_household_already_monitored_gets_no_second_identification(walk, world, make_lead) -> None:
    walk("monitored")
    with pytest.raises(actions.CaseError, match="已是监测对象"):
        actions.open_case(
            make_lead(period="2026-11"),
            actor=world.users["zhang_township"],
            assignee=world.users["xiao_grid"],
        )


def test_a_stale_form_is_a_conflict_and_nothing_is_lost(walk, world) -> None:
    case = walk("township_review")
    stale = case.version
    actions.submit(case, "township_approve", actor=world.users["zhang_township"], payload={"version": stale})
    with pytest.raises(actions.Conflict, match="请刷新后重试"):
        actions.submit(
            case,
            "reject",
            actor=world.users["zhang_township"],
            payload={"version": stale, "reason": "迟到的意见"},
        )
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.state == "county_approval" and fresh.reason == ""


def test_the_clock_stops_at_the_decision(walk) -> None:
    from fangpin.cases import deadlines

    case = walk("monitored", at=timezone.now() - dt.timedelta(days=40))
    clock = deadlines.clock(case)
    assert clock.stopped and not clock.overdue


def test_a_green_channel_household_completes_identification_before_elimination(make_lead, world) -> None:
    case = actions.open_case(
        make_lead(risk_types="02", category="sudden"),
        actor=world.users["zhang_township"],
        assignee=world.users["xiao_grid"],
        green_channel=True,
        reason="洪灾房屋倒塌",
    )
    with pytest.raises(actions.CaseError, match="补齐识别程序"):
        actions.open_elimination(case, actor=world.users["zhang_township"], assignee=world.users["xiao_grid"])
