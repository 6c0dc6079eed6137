"""The lead queue and a lead's page: one list for three channels within scope, sorted by grade and score,
masked; accept / reject / report — who may and who may not."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fangpin.warnings import actions
from fangpin.warnings.models import Lead


def test_the_queue_lists_all_channels_in_scope_sorted_by_grade_then_score(
    world, client_for, make_lead
) -> None:
    own, sibling = world.households["own"], world.households["sibling"]
    low = make_lead(own, grade="低", score=0.9, kind="adjust_assistance")
    high = make_lead(own, grade="高", score=0.7, channel="cadre_report", kind="consider_elimination")
    mid = make_lead(own, grade="中", score=0.8, channel="self_declaration", kind="verify")
    make_lead(sibling)  # another township
    page = client_for("zhang_township").get(reverse("warnings:lead_list"))
    assert [lead.pk for lead in page.context["page"]] == [high.pk, mid.pk, low.pk]


def test_the_county_sees_both_townships_and_the_other_county_sees_none(world, client_for, make_lead) -> None:
    make_lead(world.households["own"])
    make_lead(world.households["sibling"])
    assert client_for("wang_county").get(reverse("warnings:lead_list")).context["page"].paginator.count == 2
    assert (
        client_for("huang_county_c").get(reverse("warnings:lead_list")).context["page"].paginator.count == 0
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "cadre_report"}, 1),
        ({"kind": "verify"}, 2),
        ({"grade": "中"}, 1),
        ({"status": ""}, 3),  # every status, the rejected one too
        ({"status": "open"}, 2),
        ({"village": "360722100201"}, 0),
    ],
)
def test_the_queue_filters(world, client_for, make_lead, query, expected) -> None:
    own = world.households["own"]
    make_lead(own, channel="cadre_report", grade="中")
    make_lead(own, kind="adjust_assistance")
    make_lead(own, status="rejected")
    page = client_for("zhang_township").get(reverse("warnings:lead_list"), query)
    assert page.context["page"].paginator.count == expected


def test_the_filters_answer_htmx_with_the_table_only(world, client_for, make_lead) -> None:
    make_lead(world.households["own"])
    response = client_for("zhang_township").get(reverse("warnings:lead_list"), HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content and b'data-testid="leads"' in response.content


def test_household_numbers_and_names_are_masked_in_the_list_and_on_the_page(
    world, client_for, make_lead
) -> None:
    own = world.households["own"]
    lead = make_lead(own)
    client = client_for("zhang_township")
    listing = client.get(reverse("warnings:lead_list")).content.decode()
    number = own.household_no
    assert number not in listing and f"{number[:6]}******{number[-4:]}" in listing
    detail = client.get(reverse("warnings:lead_detail", args=[lead.pk])).content.decode()
    assert number not in detail
    head = own.head().name
    assert f"{head[0]}*{head[-1]}" in detail


def test_the_page_explains_the_warning(world, client_for, make_lead, audit_rows) -> None:
    lead = make_lead(
        world.households["own"],
        rules="MED-01",
        reasons="近12个月单次住院自付4.0万元，超过1万元",
        explanation="单次住院自付4.0万元，风险明显升高；人均收入低于监测线1.5倍",
        model_version="rm-2026-10-abc",
        policy_id="jx-default",
        portrait_snapshot={"max_inpatient_self_pay_12m": 40000.0, "members": 2, "unsafe_house": False},
        datasets=["ms_settlement"],
        category="marginal",
    )
    response = client_for("xiao_grid").get(reverse("warnings:lead_detail", args=[lead.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "MED-01" in body and "近12个月单次住院自付4.0万元，超过1万元" in body
    assert "住院自付" in body  # the rule's Chinese name from the policy
    assert "单次住院自付4.0万元，风险明显升高" in body and "人均收入低于监测线1.5倍" in body
    assert "近12个月单次住院最高自付（元）" in body and "40,000" in body  # labelled snapshot
    assert "家庭人口" in body and "否" in body
    assert "rm-2026-10-abc" in body and "jx-default" in body and "边缘易致贫户" in body
    assert audit_rows("LEAD_VIEWED")


def test_a_lead_outside_the_scope_is_404_and_audited(world, client_for, make_lead, audit_rows) -> None:
    lead = make_lead(world.households["own"])
    assert client_for("li_township_b").get(reverse("warnings:lead_detail", args=[lead.pk])).status_code == 404
    assert audit_rows("ACCESS_DENIED", actor_username="li_township_b")


# --- accept / reject ------------------------------------------------------------------------------------


def _post(client, name: str, lead: Lead, **data: object):
    return client.post(reverse(f"warnings:{name}", args=[lead.pk]), {"version": lead.version, **data})


def test_the_township_accepts_a_lead(world, client_for, make_lead, audit_rows) -> None:
    lead = make_lead(world.households["own"])
    response = _post(client_for("zhang_township"), "lead_accept", lead)
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.version, lead.decided_by) == ("accepted", 2, world.user("zhang_township"))
    assert audit_rows("LEAD_ACCEPTED")


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("xiao_grid", 403),
        ("liu_cadre", 403),
        ("chen_analyst", 403),
        ("zhao_data", 403),
        ("li_township_b", 404),
        ("huang_county_c", 404),
    ],
)
def test_who_may_not_accept(world, client_for, make_lead, persona, status) -> None:
    lead = make_lead(world.households["own"])
    assert _post(client_for(persona), "lead_accept", lead).status_code == status
    lead.refresh_from_db()
    assert lead.status == "new"


def test_the_county_may_accept_too(world, client_for, make_lead) -> None:
    lead = make_lead(world.households["sibling"])
    _post(client_for("wang_county"), "lead_accept", lead)
    lead.refresh_from_db()
    assert lead.status == "accepted"


def test_a_stale_form_does_not_overwrite_a_newer_decision(world, client_for, make_lead) -> None:
    lead = make_lead(world.households["own"])
    stale = lead.version
    actions.reject_lead(lead, actor=world.user("wang_county"), reason="重复线索，已在核实中")
    client = client_for("zhang_township")
    response = client.post(reverse("warnings:lead_accept", args=[lead.pk]), {"version": stale}, follow=True)
    assert "已被他人处理" in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "rejected"


def test_rejecting_needs_a_reason(world, client_for, make_lead) -> None:
    lead = make_lead(world.households["own"])
    client = client_for("zhang_township")
    response = client.post(
        reverse("warnings:lead_reject", args=[lead.pk]), {"version": lead.version, "reason": ""}, follow=True
    )
    assert "请填写不予受理的理由" in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "new"
    _post(client, "lead_reject", lead, reason="该户已于上月纳入监测")
    lead.refresh_from_db()
    assert (lead.status, lead.outcome, lead.reject_reason) == ("rejected", "rejected", "该户已于上月纳入监测")


def test_an_unmatched_declaration_cannot_be_accepted_before_matching(world, make_lead) -> None:
    lead = make_lead(world.households["own"], channel="self_declaration")
    Lead.objects.filter(pk=lead.pk).update(household=None)
    lead.refresh_from_db()
    with pytest.raises(actions.LeadError, match="匹配农户"):
        actions.accept_lead(lead, actor=world.user("zhang_township"))


def test_actions_check_role_and_scope_themselves(world, make_lead) -> None:
    from django.core.exceptions import PermissionDenied

    lead = make_lead(world.households["own"])
    with pytest.raises(PermissionDenied):
        actions.accept_lead(lead, actor=world.user("xiao_grid"))
    with pytest.raises(PermissionDenied):
        actions.reject_lead(lead, actor=world.user("li_township_b"), reason="不在本镇范围")
    with pytest.raises(PermissionDenied):
        actions.report_lead(
            household=world.households["sibling"],
            risk_types=["01"],
            note="走访发现",
            actor=world.user("xiao_grid"),
        )


def test_mark_in_case_and_the_outcome(world, make_lead, audit_rows) -> None:
    lead = make_lead(world.households["own"])
    actions.accept_lead(lead, actor=world.user("zhang_township"))
    lead = actions.mark_in_case(lead, actor=world.user("zhang_township"))
    assert lead.status == "in_case"
    lead = actions.record_outcome(lead, "not_confirmed", actor=world.user("wang_county"))
    assert (lead.status, lead.outcome) == ("closed", "not_confirmed")
    with pytest.raises(actions.LeadError):
        actions.record_outcome(lead, "maybe", actor=None)
    assert audit_rows("LEAD_IN_CASE") and audit_rows("LEAD_OUTCOME")


# --- the cadre's report ---------------------------------------------------------------------------------


def test_a_grid_worker_reports_a_household_of_the_village(world, client_for, audit_rows) -> None:
    own = world.households["own"]
    client = client_for("xiao_grid")
    form = client.get(reverse("warnings:lead_report"), {"household": own.pk})
    assert own.household_no in form.content.decode()  # preset from the household page link
    response = client.post(
        reverse("warnings:lead_report"),
        {"household_no": own.household_no, "risk_types": ["01", "07"], "note": "户主住院，家中无人务工"},
    )
    lead = Lead.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/leads/{lead.pk}/")
    assert (lead.channel, lead.risk_types, lead.household) == ("cadre_report", "01;07", own)
    assert lead.provenance[0]["reporter"] == "xiao_grid"
    assert audit_rows("LEAD_REPORTED")


def test_a_household_outside_the_scope_cannot_be_reported(world, client_for) -> None:
    response = client_for("xiao_grid").post(
        reverse("warnings:lead_report"),
        {
            "household_no": world.households["sibling"].household_no,
            "risk_types": ["01"],
            "note": "听说住院了",
        },
    )
    assert response.status_code == 400
    assert "不在您的管辖范围内" in response.content.decode()
    assert not Lead.objects.exists()


def test_a_report_needs_risk_types_and_a_note(world, client_for) -> None:
    response = client_for("liu_cadre").post(
        reverse("warnings:lead_report"), {"household_no": world.households["own"].household_no, "note": ""}
    )
    assert response.status_code == 400 and not Lead.objects.exists()


@pytest.mark.parametrize("persona", ["chen_analyst", "wang_county", "zhao_data"])
def test_roles_without_field_reporting_cannot_report(world, client_for, persona) -> None:
    assert client_for(persona).get(reverse("warnings:lead_report")).status_code == 403


def test_a_second_report_for_the_same_household_merges(world, client_for) -> None:
    own = world.households["own"]
    for persona, types in (("xiao_grid", ["01"]), ("liu_cadre", ["04"])):
        client_for(persona).post(
            reverse("warnings:lead_report"),
            {"household_no": own.household_no, "risk_types": types, "note": f"{persona}走访发现困难"},
        )
    first, second = Lead.objects.order_by("pk")
    assert (second.status, second.merged_into) == ("merged", first)
    assert first.risk_types == "01;04"
    assert [p["reporter"] for p in first.provenance] == ["xiao_grid", "liu_cadre"]
    page = client_for("zhang_township").get(reverse("warnings:lead_detail", args=[first.pk])).content.decode()
    assert f"#{second.pk}" in page  # the merge history


@pytest.mark.parametrize(
    ("persona", "status"), [("xiao_grid", 403), ("chen_analyst", 403), ("li_township_b", 404)]
)
def test_who_may_not_match_a_declaration(world, client_for, make_lead, persona, status) -> None:
    lead = make_lead(world.households["own"], channel="self_declaration")
    Lead.objects.filter(pk=lead.pk).update(household=None)
    response = client_for(persona).post(
        reverse("warnings:lead_match", args=[lead.pk]), {"household_no": world.households["own"].household_no}
    )
    assert response.status_code == status
    assert Lead.objects.get(pk=lead.pk).household is None


def test_a_township_cannot_match_a_household_of_another_township(world, client_for, make_lead) -> None:
    lead = make_lead(world.households["own"], channel="self_declaration")
    Lead.objects.filter(pk=lead.pk).update(household=None)
    response = client_for("zhang_township").post(
        reverse("warnings:lead_match", args=[lead.pk]),
        {"household_no": world.households["sibling"].household_no},
        follow=True,
    )
    assert "不在您的管辖范围内" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).household is None


def test_read_only_roles_see_the_page_without_decision_buttons(world, client_for, make_lead) -> None:
    lead = make_lead(world.households["own"])
    body = client_for("chen_analyst").get(reverse("warnings:lead_detail", args=[lead.pk])).content.decode()
    assert 'data-testid="accept"' not in body and "不予受理" not in body
    township = (
        client_for("zhang_township").get(reverse("warnings:lead_detail", args=[lead.pk])).content.decode()
    )
    assert 'data-testid="accept"' in township


def test_provenance_times_are_shown_in_beijing_time(world, client_for, make_lead) -> None:
    lead = make_lead(
        world.households["own"], provenance=[{"channel": "department", "at": "2026-10-31T00:30:00+00:00"}]
    )
    body = client_for("zhang_township").get(reverse("warnings:lead_detail", args=[lead.pk])).content.decode()
    assert "2026-10-31 08:30" in body
