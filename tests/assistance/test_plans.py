from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fangpin.assistance import actions
from fangpin.assistance.models import AssistancePlan, Measure, MeasureType
from fangpin.notifications.models import Notification
from fangpin.warnings.models import Lead


def test_a_village_cadre_opens_a_plan_for_a_monitored_household(
    world, client_for, toolbox, monitored, audit_rows
) -> None:
    case = monitored("own", risk_types="01", able_members=1)
    xiao = world.user("xiao_grid")
    response = client_for("liu_cadre").post(
        f"/assistance/cases/{case.pk}/plan/",
        {"responsible": str(xiao.pk), "summary": "先医疗救助，再安排公益岗位"},
    )
    plan = AssistancePlan.objects.get(case=case)
    assert response.status_code == 302 and response["Location"] == f"/assistance/plans/{plan.pk}/"
    assert plan.responsible == xiao and plan.village_id == case.village_id
    assert audit_rows("PLAN_CREATED")[0].data == {"case": case.pk}
    (message,) = Notification.objects.filter(recipient=xiao)
    assert message.url == f"/assistance/plans/{plan.pk}/" and "帮扶责任人" in message.title
    page = client_for("liu_cadre").get(f"/assistance/plans/{plan.pk}/").content.decode()
    assert "医疗救助（住院与门诊慢特病）" in page  # suggested for 因病
    head = case.household.memberships.get(relation="01").person
    assert "肖*香" in page and head.id_number not in page and head.id_number[-4:] in page  # members masked
    grid = client_for("xiao_grid").get(f"/assistance/plans/{plan.pk}/").content.decode()
    assert 'data-testid="suggestions"' not in grid and "登记走访" in grid  # reads, visits, does not plan


def test_who_may_open_a_plan(world, client_for, toolbox, monitored) -> None:
    own, sibling = monitored("own"), monitored("sibling")
    assert client_for("xiao_grid").post(f"/assistance/cases/{own.pk}/plan/").status_code == 403  # grid worker
    assert client_for("chen_analyst").post(f"/assistance/cases/{own.pk}/plan/").status_code == 403
    assert client_for("li_township_b").post(f"/assistance/cases/{own.pk}/plan/").status_code == 404
    assert client_for("zhang_township").post(f"/assistance/cases/{sibling.pk}/plan/").status_code == 404
    assert not AssistancePlan.objects.exists()
    assert client_for("wang_county").post(f"/assistance/cases/{sibling.pk}/plan/").status_code == 302
    assert AssistancePlan.objects.get().case == sibling


def test_a_household_not_yet_monitored_gets_no_plan(world, toolbox, monitored) -> None:
    case = monitored("own")
    case.state, case.monitored_at = "township_review", None
    case.save()
    with pytest.raises(actions.AssistanceError, match="已纳入监测"):
        actions.create_plan(case, actor=world.user("liu_cadre"))


def test_adopting_a_suggestion_adds_a_measure_and_tells_the_responsible_cadre(
    world, client_for, plan
) -> None:
    zhang = world.user("zhang_township")
    plan.responsible = zhang
    plan.save()
    medical = MeasureType.objects.get(county_id="360722", code="YL-01")
    member = plan.household.memberships.get(relation="01").person
    response = client_for("liu_cadre").post(
        f"/assistance/plans/{plan.pk}/measures/",
        {
            "measure_type": str(medical.pk),
            "person": str(member.pk),
            "start_date": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    measure = Measure.objects.get()
    assert measure.person == member and measure.responsible == zhang and measure.status == "active"
    assert Notification.objects.filter(recipient=zhang, verb="measure.added").exists()
    codes = [t.code for t, _ in actions.suggestions(plan)]
    assert "YL-01" not in codes  # already in the plan


def test_a_per_person_measure_needs_a_member_and_dates_must_make_sense(world, plan) -> None:
    liu = world.user("liu_cadre")
    rain = MeasureType.objects.get(county_id="360722", code="JZ-01")
    with pytest.raises(actions.AssistanceError, match="到人"):
        actions.add_measure(plan, actor=liu, measure_type=rain, start_date=dt.date(2026, 9, 1))
    child = plan.household.memberships.get(relation="03").person
    with pytest.raises(actions.AssistanceError, match="结束日期"):
        actions.add_measure(
            plan,
            actor=liu,
            measure_type=rain,
            person=child,
            start_date=dt.date(2026, 9, 1),
            end_date=dt.date(2026, 1, 1),
        )
    other_county = MeasureType.objects.get(county_id="360731", code="JZ-01")
    with pytest.raises(actions.AssistanceError, match="本县"):
        actions.add_measure(
            plan, actor=liu, measure_type=other_county, person=child, start_date=dt.date(2026, 9, 1)
        )
    stranger = world.persons["sibling"]
    with pytest.raises(actions.AssistanceError, match="现有成员"):
        actions.add_measure(
            plan, actor=liu, measure_type=rain, person=stranger, start_date=dt.date(2026, 9, 1)
        )


def test_recording_effect_refuses_a_stale_form(world, client_for, plan) -> None:
    loan = MeasureType.objects.get(county_id="360722", code="XD-01")
    measure = actions.add_measure(
        plan, actor=world.user("liu_cadre"), measure_type=loan, start_date=dt.date(2026, 3, 1)
    )
    form = {
        "version": str(measure.version),
        "status": "done",
        "effect": "养殖脐橙苗，年增收",
        "income_gained": "4800",
    }
    client = client_for("zhang_township")
    assert client.post(f"/assistance/measures/{measure.pk}/", form).status_code == 302
    measure.refresh_from_db()
    assert measure.status == "done" and measure.income_gained == 4800 and measure.version == 2
    client.post(f"/assistance/measures/{measure.pk}/", {**form, "effect": "旧"})  # same (stale) version
    measure.refresh_from_db()
    assert measure.effect == "养殖脐橙苗，年增收"
    assert client_for("xiao_grid").post(f"/assistance/measures/{measure.pk}/", form).status_code == 403
    assert client_for("li_township_b").post(f"/assistance/measures/{measure.pk}/", form).status_code == 404


def test_a_follow_up_visit_with_a_housing_gap_brings_housing_to_the_top(
    world, client_for, plan, audit_rows
) -> None:
    response = client_for("xiao_grid").post(  # grid workers visit (VERIFY_HOUSEHOLD)
        f"/assistance/plans/{plan.pk}/visits/",
        {
            "visited_on": timezone.localdate().isoformat(),
            "findings": "雨季后房屋墙体开裂，已请住建部门鉴定",
            "income_per_capita": "8600",
            "food_clothing_ok": "on",
            "education_ok": "on",
            "medical_ok": "on",
            "water_ok": "on",
        },
    )
    assert response.status_code == 302
    visit = plan.visits.get()
    assert not visit.housing_ok and not visit.secured and visit.income_per_capita == 8600
    assert actions.suggestions(plan)[0][0].code == "ZF-01"
    assert audit_rows("FOLLOWUP_RECORDED")[0].data["secured"] is False
    future = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    client_for("xiao_grid").post(
        f"/assistance/plans/{plan.pk}/visits/", {"visited_on": future, "findings": "x"}
    )
    assert plan.visits.count() == 1


def _prompt(plan, kind: str, risk_types: str = "") -> Lead:
    return Lead.objects.create(
        household=plan.household,
        village_id=plan.village_id,
        channel="department",
        kind=kind,
        period="2026-10",
        risk_types=risk_types,
        reasons="务工收入连续 3 个月为零",
    )


def test_a_risk_up_prompt_is_answered_by_adding_measures_and_fed_back(world, client_for, plan) -> None:
    lead = _prompt(plan, "adjust_assistance", "07")
    client = client_for("liu_cadre")
    page = client.get(f"/assistance/plans/{plan.pk}/").content.decode()
    assert 'data-testid="adjust-prompt"' in page and "就业帮扶车间就近就业" in page
    chosen = MeasureType.objects.get(county_id="360722", code="JY-02")
    response = client.post(
        f"/assistance/plans/{plan.pk}/adjust/",
        {
            "lead": str(lead.pk),
            "measure_types": [str(chosen.pk)],
            "start_date": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    measure = Measure.objects.get(lead=lead)
    assert measure.measure_type == chosen and measure.person is not None  # 到人: the head of household
    lead.refresh_from_db()
    assert lead.outcome == "adjusted" and lead.status == "closed"
    assert 'data-testid="adjust-prompt"' not in client.get(f"/assistance/plans/{plan.pk}/").content.decode()


def test_a_risk_down_prompt_points_to_elimination(world, client_for, plan) -> None:
    _prompt(plan, "consider_elimination")
    page = client_for("zhang_township").get(f"/assistance/plans/{plan.pk}/").content.decode()
    assert 'data-testid="elimination-prompt"' in page
    assert f"/cases/{plan.case_id}/" in page


def test_the_plan_list_shows_monitored_households_in_scope(world, client_for, plan, monitored) -> None:
    monitored("sibling")
    page = client_for("zhang_township").get("/assistance/").content.decode()
    assert plan.household.household_no in page
    assert world.households["sibling"].household_no not in page
    county = client_for("wang_county").get("/assistance/?show=no_plan").content.decode()
    assert world.households["sibling"].household_no in county and plan.household.household_no not in county


def test_elimination_ends_measures_except_those_that_continue(world, plan, audit_rows) -> None:
    liu = world.user("liu_cadre")
    child = plan.household.memberships.get(relation="03").person
    rain = MeasureType.objects.get(county_id="360722", code="JZ-01")  # continues to the end of school
    medical = MeasureType.objects.get(county_id="360722", code="YL-02")
    kept = actions.add_measure(
        plan, actor=liu, measure_type=rain, person=child, start_date=dt.date(2026, 3, 1)
    )
    ended = actions.add_measure(
        plan, actor=liu, measure_type=medical, person=child, start_date=dt.date(2026, 3, 1)
    )
    assert actions.end_measures_on_elimination(plan.case, actor=liu, on=dt.date(2026, 11, 1)) == 1
    kept.refresh_from_db()
    ended.refresh_from_db()
    assert kept.status == "active" and kept.end_date is None
    assert ended.status == "done" and ended.end_date == dt.date(2026, 11, 1) and ended.version == 2
    assert audit_rows("MEASURES_ENDED")[0].data == {"measures": [ended.pk]}
