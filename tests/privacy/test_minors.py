"""Minors under 14 (SECURITY.md PI-02): labelled 未成年人(不满14周岁) as sensitive personal information
wherever a person is shown, decided from the birth date on the display date; revealing a minor's ID goes
through the same reveal flow and the label is written into the audit row."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

from conftest import make_id
from fangpin.audit.models import AuditEvent
from fangpin.registry.models import MINOR_LABEL, Membership, Person

BIRTHDAY = dt.date(2012, 12, 8)  # turns 14 on 2026-12-08


@pytest.fixture(autouse=True)
def _urls_loaded() -> None:
    """Load the URLconf (and the API's schemas) before the clock is frozen: pydantic refuses FakeDate."""
    from django.urls import reverse

    reverse("web:home")


@pytest.fixture
def child(world) -> Person:
    person = Person.objects.create(
        id_number=make_id("360722", BIRTHDAY, True), name="曾小军", gender="1", birth_date=BIRTHDAY
    )
    Membership.objects.create(
        person=person,
        household=world.households["own"],
        relation="03",
        start_date=dt.date(2020, 1, 1),
        start_reason="registered",
    )
    return person


def test_the_label_follows_the_display_date(child) -> None:
    assert child.sensitivity_label(dt.date(2026, 12, 7)) == MINOR_LABEL
    assert child.sensitivity_label(dt.date(2026, 12, 8)) == ""


def test_the_household_file_labels_a_child_under_14_and_not_after_the_birthday(
    world, client_for, child
) -> None:
    url = f"/households/{world.households['own'].pk}/"
    with freeze_time("2026-12-07 10:00:00"):
        body = client_for("zhang_township").get(url).content.decode()
    assert body.count(MINOR_LABEL) == 1  # the child; the mother (born 1968) is not labelled
    with freeze_time("2026-12-08 10:00:00"):
        body = client_for("zhang_township").get(url).content.decode()
    assert MINOR_LABEL not in body


@freeze_time("2026-12-07 10:00:00")
def test_revealing_a_minors_id_goes_through_the_reveal_flow_and_the_label_is_audited(
    world, client_for, child
) -> None:
    client = client_for("zhang_township")
    refused = client.post(f"/persons/{child.pk}/reveal/", {"field": "id_number", "reason": ""})
    assert refused.status_code == 400 and child.id_number not in refused.content.decode()
    response = client.post(
        f"/persons/{child.pk}/reveal/",
        {"field": "id_number", "purpose": "assistance", "reason": "办理雨露计划核对身份"},
    )
    body = response.content.decode()
    assert child.id_number in body and MINOR_LABEL in body
    (row,) = AuditEvent.objects.filter(event_type="PI_REVEAL")
    assert row.data["label"] == MINOR_LABEL and row.object_id == str(child.pk)


@freeze_time("2026-12-07 10:00:00")
def test_an_adults_reveal_carries_no_label(world, client_for) -> None:
    adult = world.persons["own"]
    client_for("zhang_township").post(
        f"/persons/{adult.pk}/reveal/", {"field": "name", "purpose": "verification", "reason": "核对户主姓名"}
    )
    (row,) = AuditEvent.objects.filter(event_type="PI_REVEAL")
    assert "label" not in row.data


@freeze_time("2026-12-07 10:00:00")
def test_the_case_page_labels_the_child(world, client_for, child) -> None:
    from django.utils import timezone

    from fangpin.cases.models import Case
    from fangpin.warnings.models import Lead

    household = world.households["own"]
    lead = Lead.objects.create(
        household=household, village_id=household.village_id, channel="cadre_report", period="2026-11"
    )
    now = timezone.now()
    case = Case.objects.create(
        household=household,
        village_id=household.village_id,
        lead=lead,
        state="verifying",
        found_at=now,
        opened_at=now,
        deadline_at=now + dt.timedelta(days=15),
    )
    body = client_for("zhang_township").get(f"/cases/{case.pk}/").content.decode()
    assert MINOR_LABEL in body
