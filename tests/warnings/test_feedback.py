"""Feedback to the exchange: a department's data officer sees what became of the warnings its data
triggered — counts by month and outcome, own department only, no personal data."""

from __future__ import annotations

from django.urls import reverse

from fangpin.warnings import actions
from fangpin.warnings.models import LeadSource


def _lead_from(make_lead, household, dataset: str, department: str, period: str = "2026-10"):
    lead = make_lead(household, period=period, datasets=[dataset])
    LeadSource.objects.create(lead=lead, dataset=dataset, department=department)
    return lead


def test_a_data_officer_sees_the_outcomes_of_their_departments_warnings(world, client_for, make_lead) -> None:
    own = world.households["own"]
    confirmed = _lead_from(make_lead, own, "ms_settlement", "medical_security")
    actions.record_outcome(confirmed, "confirmed", actor=world.user("wang_county"))
    _lead_from(make_lead, world.households["sibling"], "ms_settlement", "medical_security", period="2026-09")
    _lead_from(make_lead, own, "em_disaster", "emergency")  # another department's
    response = client_for("zhao_data").get(reverse("warnings:feedback"))
    assert response.status_code == 200
    months = dict(response.context["months"])
    assert months["2026-10"]["confirmed"] == 1 and months["2026-09"][""] == 1
    assert "em_disaster" not in response.content.decode()
    assert [d["dataset"] for d in response.context["by_dataset"]] == ["ms_settlement"]
    body = response.content.decode()
    assert own.household_no not in body
    assert f"{own.household_no[:6]}******{own.household_no[-4:]}" in body
    assert "核实属实" in body


def test_a_data_officer_cannot_look_at_another_department(world, client_for, make_lead) -> None:
    _lead_from(make_lead, world.households["own"], "em_disaster", "emergency")
    response = client_for("zhao_data").get(reverse("warnings:feedback"), {"department": "emergency"})
    assert response.context["department"] == "medical_security"
    assert response.context["by_dataset"] == []


def test_the_county_sees_every_department_and_may_choose_one(world, client_for, make_lead) -> None:
    _lead_from(make_lead, world.households["own"], "em_disaster", "emergency")
    _lead_from(make_lead, world.households["sibling"], "ms_settlement", "medical_security")
    client = client_for("wang_county")
    assert len(client.get(reverse("warnings:feedback")).context["by_dataset"]) == 2
    chosen = client.get(reverse("warnings:feedback"), {"department": "emergency"}).context["by_dataset"]
    assert [d["dataset"] for d in chosen] == ["em_disaster"]


def test_field_roles_do_not_see_the_exchange_feedback(world, client_for) -> None:
    assert client_for("zhang_township").get(reverse("warnings:feedback")).status_code == 403
