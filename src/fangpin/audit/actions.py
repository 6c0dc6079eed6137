"""Writing and checking the audit trail. `record` is called by every action, inside its transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from fangpin.audit.context import current
from fangpin.audit.models import AuditEvent, Outcome

GENESIS = "0" * 64
# Serialises chain appends on PostgreSQL (SQLite already serialises writers).
_CHAIN_LOCK_KEY = 7_261_100_001
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _clean(text: Any, limit: int) -> str:
    """Encode control characters so a value cannot forge log lines (SECURITY.md AUD-02)."""
    value = _CONTROL_CHARS.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text if text is not None else ""))
    return value[:limit]


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {
            "actor_id": None,
            "actor_username": _clean(getattr(actor, "username", ""), 150),
            "actor_role": "",
            "actor_region": "",
        }
    return {
        "actor_id": actor.pk,
        "actor_username": _clean(actor.username, 150),
        "actor_role": getattr(actor, "role", "") or "",
        "actor_region": getattr(actor, "region_id", "") or "",
    }


def record(
    event_type: str,
    *,
    actor: Any = None,
    outcome: str = Outcome.SUCCESS,
    object_type: str = "",
    object_id: Any = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    username: str = "",
) -> AuditEvent:
    """Append one audit row, chained to the previous one, in the caller's transaction (fail closed:
    if this raises, the caller's change rolls back with it)."""
    context = current.get()
    fields = _actor_fields(actor)
    if username and not fields["actor_username"]:
        fields["actor_username"] = _clean(username, 150)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            at=timezone.now(),
            ip=context.ip,
            request_id=context.request_id,
            event_type=event_type,
            outcome=outcome,
            object_type=object_type,
            object_id=_clean(object_id, 64),
            reason=_clean(reason, 500),
            data=data or {},
            prev_hash=last or GENESIS,
            **fields,
        )
        event.hash = event.compute_hash()
        event.save()
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain() -> ChainReport:
    """Walk the whole log in id order; report the first row whose hash or link does not hold."""
    expected_prev = GENESIS
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return ChainReport(
                checked, event.pk, "链接断开：上一条记录被删除或修改 (previous row deleted or changed)"
            )
        if event.compute_hash() != event.hash:
            return ChainReport(checked, event.pk, "内容被修改 (row content was edited)")
        expected_prev = event.hash
        checked += 1
    return ChainReport(checked, None, "")
