"""The audit log is append-only and hash-chained (SECURITY.md AUD-03, AUD-05)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from fangpin import cli
from fangpin.audit.actions import record, verify_chain
from fangpin.audit.events import Event
from fangpin.audit.maintenance import append_only_suspended
from fangpin.audit.models import AuditEvent, AuditLogIsAppendOnly


def three_events() -> list[AuditEvent]:
    return [
        record(Event.AUDIT_QUERIED, object_type="t", object_id=str(i), data={"n": i, "名": "水东"})
        for i in range(3)
    ]


def test_it_chains_each_row_to_the_previous(db: None) -> None:
    first, second, third = three_events()
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert verify_chain().ok and verify_chain().checked == 3


def test_the_orm_refuses_to_change_or_delete_rows(db: None) -> None:
    event = three_events()[0]
    event.reason = "changed"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(reason="x")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()


def test_the_database_refuses_raw_updates_and_deletes(db: None) -> None:
    event = three_events()[0]
    for sql in (
        "UPDATE audit_auditevent SET reason = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_verify_catches_a_row_edited_with_raw_sql(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    events = three_events()
    with append_only_suspended(connection), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET reason = 'nothing happened' WHERE id = %s", [events[1].pk]
        )
    report = verify_chain()
    assert not report.ok and report.broken_at == events[1].pk
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit")
    assert exit_info.value.code == 1
    assert cli.main(["audit", "verify"]) == 1
    assert str(events[1].pk) in capsys.readouterr().err


def test_verify_catches_a_deleted_row(db: None) -> None:
    events = three_events()
    with append_only_suspended(connection), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    report = verify_chain()
    assert report.broken_at == events[2].pk


def test_verify_passes_on_an_intact_log(db: None) -> None:
    three_events()
    assert cli.main(["audit", "verify"]) == 0


def test_an_audit_failure_rolls_back_the_change_it_records(world, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed (AUD-05): no audit row, no change."""
    from fangpin.accounts import actions
    from fangpin.accounts.models import User

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(actions, "record", broken)
    target = User.objects.get(username="xiao_grid")
    with pytest.raises(RuntimeError):
        actions.set_active(actor=User.objects.get(username="sun_sysadmin"), user=target, active=False)
    assert User.objects.get(username="xiao_grid").is_active


def test_it_encodes_control_characters_in_logged_text(db: None) -> None:
    event = record(Event.LOGIN_FAILED, username="evil\nLOGIN_SUCCEEDED admin")
    assert "\n" not in event.actor_username and "\\x0a" in event.actor_username
