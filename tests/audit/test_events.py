"""Audit event names are one enum: `record` takes only its members, and the stored names never change."""

from __future__ import annotations

import pytest

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import AuditEvent
from fangpin.cases.transitions import TRANSITIONS


def test_a_name_that_is_not_an_event_is_refused_and_nothing_is_written(db: None) -> None:
    with pytest.raises(TypeError, match="Event"):
        record("NOT_AN_EVENT")  # type: ignore[arg-type]
    assert not AuditEvent.objects.exists()


def test_even_the_right_spelling_as_a_plain_string_is_refused(db: None) -> None:
    # a free string cannot be found by a search for the member; only members are accepted
    with pytest.raises(TypeError):
        record("LOGIN_FAILED")  # type: ignore[arg-type]
    assert not AuditEvent.objects.exists()


def test_a_member_is_stored_as_its_plain_name(db: None) -> None:
    event = record(Event.LOGIN_FAILED, username="wang")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.event_type == "LOGIN_FAILED" and type(stored.event_type) is str


def test_every_member_is_spelled_as_its_stored_value() -> None:
    # the chain seals the stored names: a member whose value differs from its name would be a rename
    assert all(member.name == member.value for member in Event)


def test_every_case_step_has_its_event() -> None:
    missing = [action for action in TRANSITIONS if f"CASE_{action.upper()}" not in Event.__members__]
    assert not missing


def test_the_names_written_before_the_enum_are_all_members() -> None:
    # a sample of names already in county logs (the audit page filters on them)
    before = {"CASE_TOWNSHIP_APPROVE", "LEAD_ACCEPTED", "PLAN_CREATED", "DELIVERY_IMPORTED", "PI_REVEAL"}
    assert before <= set(Event.__members__)
