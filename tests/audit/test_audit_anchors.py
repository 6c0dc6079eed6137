"""The keyed, anchored audit chain (issue #14.5, ADR 0022): whoever can write to the database can delete
rows and recompute the chain, but cannot compute the MACs without the key, nor change the anchor file."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from fangpin import cli
from fangpin.audit.actions import record, verify_chain
from fangpin.audit.events import Event
from fangpin.audit.maintenance import append_only_suspended
from fangpin.audit.models import HMAC_CHAIN, SHA256_CHAIN, AuditEvent
from fangpin.conf import audit_key
from fangpin.lib.anchors import GENESIS

Hasher = Callable[[bytes], str]


def plain_sha256(message: bytes) -> str:
    return hashlib.sha256(message).hexdigest()


def guessed_key(message: bytes) -> str:
    return hmac.new(b"fangpin-audit-key-guess-0123456789", message, hashlib.sha256).hexdigest()


def events(n: int, kind: Event = Event.AUDIT_QUERIED) -> list[AuditEvent]:
    return [record(kind, object_type="t", object_id=str(i), data={"n": i}) for i in range(n)]


def rewrite_chain(start: int, hasher: Hasher, chain: int = HMAC_CHAIN) -> None:
    """What an attacker with database write access does: recompute every MAC from row `start` on."""
    previous = AuditEvent.objects.filter(id__lt=start).order_by("-id").values_list("hash", flat=True).first()
    prev = previous or GENESIS
    with append_only_suspended(connection), connection.cursor() as cursor:
        for event in AuditEvent.objects.filter(id__gte=start).order_by("id"):
            event.prev_hash = prev
            prev = hasher((prev + event.canonical()).encode("utf-8"))
            cursor.execute(
                "UPDATE audit_auditevent SET prev_hash = %s, hash = %s, chain = %s WHERE id = %s",
                [event.prev_hash, prev, chain, event.pk],
            )


def delete_rows(where: str, params: list[object]) -> None:
    with append_only_suspended(connection), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM audit_auditevent WHERE {where}", params)


def fails_naming(seq: int, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"row {seq}:" in err
    return err


def anchor_lines() -> list[dict[str, object]]:
    text = Path(settings.AUDIT_ANCHOR_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_an_untouched_anchored_log_verifies(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    events(3)
    assert cli.main(["audit", "anchor"]) == 0
    events(2)
    assert cli.main(["audit", "anchor"]) == 0
    assert cli.main(["audit", "verify"]) == 0
    assert "7 rows" in capsys.readouterr().out  # 5 events and the two AUDIT_ANCHORED rows
    first, second = anchor_lines()
    assert second["prev"] == first["line_mac"] and first["legacy_until"] == 0
    assert stat.S_IMODE(Path(settings.AUDIT_ANCHOR_FILE).stat().st_mode) == 0o600
    assert AuditEvent.objects.filter(event_type="AUDIT_ANCHORED").count() == 2


def test_deleting_a_row_in_the_middle_is_found(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    rows = events(5)
    delete_rows("id = %s", [rows[2].pk])
    assert "链接断开" in fails_naming(rows[3].pk, capsys)


@pytest.mark.parametrize(
    ("hasher", "chain"),
    [(plain_sha256, HMAC_CHAIN), (plain_sha256, SHA256_CHAIN), (guessed_key, HMAC_CHAIN)],
    ids=["sha256-as-new-rows", "sha256-as-old-rows", "hmac-with-a-guessed-key"],
)
def test_deleting_every_reveal_and_recomputing_the_chain_is_found(
    db: None, capsys: pytest.CaptureFixture[str], hasher: Hasher, chain: int
) -> None:
    """The pen test's attack: remove each PI_REVEAL row, then recompute the chain after it."""
    before = events(2)
    assert cli.main(["audit", "anchor"]) == 0
    reveal = events(1, Event.PI_REVEAL)[0]
    after = events(2)
    delete_rows("event_type = %s", ["PI_REVEAL"])
    rewrite_chain(after[0].pk, hasher, chain)
    fails_naming(after[0].pk, capsys)
    # recomputing from the very first row instead is caught at the first row (keyed chain: no old rows)
    rewrite_chain(before[0].pk, hasher, chain)
    fails_naming(before[0].pk, capsys)
    assert reveal.pk not in AuditEvent.objects.values_list("id", flat=True)


def test_a_truncated_tail_is_found_by_the_anchor(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    rows = events(3)
    assert cli.main(["audit", "anchor"]) == 0
    anchored = AuditEvent.objects.latest("id").pk
    delete_rows("id > %s", [rows[1].pk])
    assert "尾部被截断" in fails_naming(anchored, capsys)
    assert cli.main(["audit", "anchor"]) == 1  # the clock does not anchor the shortened log either
    assert f"row {anchored}:" in capsys.readouterr().err and len(anchor_lines()) == 1


def test_anchoring_walks_only_the_rows_since_the_last_anchor(db: None) -> None:
    events(5)
    call_command("anchor_audit")
    events(2)
    call_command("anchor_audit")
    first, second = AuditEvent.objects.filter(event_type="AUDIT_ANCHORED").order_by("id")
    assert (first.data["checked"], second.data["checked"]) == (5, 2)  # then only the 2 after the anchor


def test_an_edited_or_removed_anchor_line_is_found(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    events(1)
    for _ in range(3):
        call_command("anchor_audit")
    path = Path(settings.AUDIT_ANCHOR_FILE)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0] + lines[2], encoding="utf-8")
    assert cli.main(["audit", "verify"]) == 1
    assert "锚点文件第 2 行之前的锚点被删除" in capsys.readouterr().err
    path.write_text("".join(lines).replace('"seq": ', '"seq": 1', 1), encoding="utf-8")
    assert cli.main(["audit", "verify"]) == 1
    assert "第 1 行的 MAC 不符" in capsys.readouterr().err
    assert cli.main(["audit", "anchor"]) == 1  # nothing is anchored on top of a changed file


def test_a_broken_chain_is_not_anchored(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    rows = events(3)
    delete_rows("id = %s", [rows[1].pk])
    assert cli.main(["audit", "anchor"]) == 1
    assert f"row {rows[2].pk}" in capsys.readouterr().err
    assert not Path(settings.AUDIT_ANCHOR_FILE).exists()


def test_rows_from_before_the_upgrade_verify_once_the_owner_anchors_them(
    db: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows written with the unkeyed SHA-256 stay as they are (no UPDATE of the log): the first anchor
    after the upgrade vouches for them, and only for them."""
    old = events(3)
    rewrite_chain(old[0].pk, plain_sha256, SHA256_CHAIN)  # the log as the previous release left it
    assert cli.main(["audit", "verify"]) == 1
    assert "尚未锚定" in capsys.readouterr().err
    assert cli.main(["audit", "anchor"]) == 0
    assert anchor_lines()[0]["legacy_until"] == old[-1].pk
    new = events(2)
    assert cli.main(["audit", "verify"]) == 0
    rewrite_chain(new[0].pk, plain_sha256, SHA256_CHAIN)  # new rows cannot pass for old ones
    fails_naming(new[0].pk, capsys)


def test_the_clock_anchors_once_a_day(db: None) -> None:
    events(1)
    call_command("periodic", once=True)
    call_command("periodic", once=True)
    assert len(anchor_lines()) == 1
    assert verify_chain().ok and verify_chain().anchors == 1


def test_the_audit_key_is_created_once_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FANGPIN_AUDIT_KEY", raising=False)
    key = audit_key(tmp_path)
    assert audit_key(tmp_path) == key and len(key) == 64
    assert stat.S_IMODE((tmp_path / "audit_key").stat().st_mode) == 0o600
    monkeypatch.setenv("FANGPIN_AUDIT_KEY", "x" * 40)
    assert audit_key(tmp_path) == b"x" * 40


def test_the_audit_export_carries_the_chain_head(world, client_for) -> None:
    events(2)
    response = client_for("wu_auditor").post("/audit/export/", {"event_type": "", "purpose": "supervision"})
    last_line = response.content.decode("utf-8-sig").strip().splitlines()[-1].split(",")
    head = AuditEvent.objects.order_by("-id")[1]  # the export's own AUDIT_EXPORTED row comes after it
    assert last_line[0] == "链头" and last_line[1] == str(head.pk) and last_line[-1] == head.hash
    assert response["X-Audit-Chain-Head"] == f"{head.pk} {head.hash}"
