"""Writing and checking the audit trail. `record` is called by every action, inside its transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from fangpin.audit.context import current
from fangpin.audit.events import Event
from fangpin.audit.models import HMAC_CHAIN, SHA256_CHAIN, AuditEvent, Outcome
from fangpin.lib import anchors as anchor_file
from fangpin.lib.anchors import GENESIS, Anchor, AnchorFileError

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
    event_type: Event,
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
    if this raises, the caller's change rolls back with it). `event_type` must be an `Event` member: a
    free string (a typo, a name nobody can search for) raises before anything is written."""
    if not isinstance(event_type, Event):
        raise TypeError(f"审计事件类型必须是 audit.events.Event 的成员，而不是 {event_type!r}")
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
            event_type=event_type.value,
            outcome=outcome,
            object_type=object_type,
            object_id=_clean(object_id, 64),
            reason=_clean(reason, 500),
            data=data or {},
            prev_hash=last or GENESIS,
            chain=HMAC_CHAIN,
            **fields,
        )
        event.hash = event.compute_hash(settings.AUDIT_KEY)
        event.save()
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None
    problem: str
    head: int | None = None
    anchors: int = 0

    @property
    def ok(self) -> bool:
        return not self.problem


class ChainBroken(Exception):
    def __init__(self, seq: int | None, problem: str, checked: int = 0) -> None:
        super().__init__(f"#{seq}: {problem}")
        self.seq, self.problem, self.checked = seq, problem, checked


def _anchor_path() -> Path:
    return Path(settings.AUDIT_ANCHOR_FILE)


def _row_problem(event: AuditEvent, expected_prev: str, legacy_ok: bool, anchored: str | None) -> str:
    if event.prev_hash != expected_prev:
        return "链接断开：上一条记录被删除或修改 (previous row deleted or changed)"
    if event.chain == SHA256_CHAIN and not legacy_ok:
        return "无密钥的旧格式记录出现在锚定范围之外：链被重新计算 (chain recomputed without the key)"
    if event.compute_hash(settings.AUDIT_KEY) != event.hash:
        return "MAC 不符：内容被修改，或链被重新计算 (row edited, or chain recomputed)"
    if anchored is not None and anchored != event.hash:
        return "与锚点文件中的链头不符：此前的记录被删除并重新计算 (differs from the anchored head)"
    return ""


def _start(anchors: list[Anchor], incremental: bool) -> tuple[QuerySet[AuditEvent], str, bool]:
    """The rows to walk, the MAC the first must link to, and whether a keyed row came before."""
    rows = AuditEvent.objects.order_by("id")
    if not (incremental and anchors):
        return rows, GENESIS, False
    last = anchors[-1]  # an AUDIT_ANCHORED row, keyed
    if not AuditEvent.objects.filter(pk=last.seq, hash=last.mac).exists():
        raise ChainBroken(
            last.seq, "最近锚定的记录不存在或被修改：尾部被截断 (anchored row missing: tail truncated)"
        )
    return rows.filter(id__gt=last.seq), last.mac, True


def _walk(anchors: list[Anchor], upgrading: bool, incremental: bool) -> tuple[int, int | None]:
    """Stream the rows in id order (never all in memory); raise ChainBroken at the first bad one.
    `upgrading`: old unkeyed rows need no anchor yet (the anchor about to be written is theirs);
    `incremental`: only the rows after the last anchor (what anchoring needs; verify checks all)."""
    rows, expected_prev, keyed = _start(anchors, incremental)
    anchored = {} if incremental else {a.seq: a.mac for a in anchors}
    legacy_until = anchors[0].legacy_until if anchors else None
    checked, head = 0, None
    for event in rows.iterator(chunk_size=2000):
        legacy_ok = not keyed and (legacy_until is None or event.pk <= legacy_until)
        problem = _row_problem(event, expected_prev, legacy_ok, anchored.pop(event.pk, None))
        if problem:
            raise ChainBroken(event.pk, problem, checked)
        keyed = keyed or event.chain == HMAC_CHAIN
        expected_prev, checked, head = event.hash, checked + 1, event.pk
    if anchored:
        missing = min(anchored)
        where = "尾部被截断" if head is None or missing > head else "该记录被删除"
        raise ChainBroken(
            missing, f"锚定的记录不存在，{where} (anchored row missing: tail truncated)", checked
        )
    if head is not None and not keyed and not anchors and not upgrading:
        raise ChainBroken(
            head, "旧格式记录尚未锚定：请在升级后运行 fangpin audit anchor (not anchored)", checked
        )
    return checked, head


def verify_chain(*, upgrading: bool = False, incremental: bool = False) -> ChainReport:
    """Every row's MAC and link, and every anchor of the anchor file; the first problem is reported."""
    try:
        anchors = anchor_file.read(_anchor_path(), settings.AUDIT_KEY)
        checked, head = _walk(anchors, upgrading, incremental)
    except AnchorFileError as exc:
        return ChainReport(0, None, str(exc))
    except ChainBroken as exc:
        return ChainReport(exc.checked, exc.seq, exc.problem)
    return ChainReport(checked, None, "", head, len(anchors))


def chain_head() -> AuditEvent | None:
    return AuditEvent.objects.order_by("-id").first()


def anchor_head(*, actor: Any = None, daily: bool = False) -> Anchor | None:
    """Write the chain head to the anchor file after verifying the rows since the last anchor (recorded
    as AUDIT_ANCHORED; a row before it that was changed still fails `verify`, an anchor cannot bless it);
    `daily`: only when today has no anchor yet (the clock calls it every tick)."""
    path, key = _anchor_path(), settings.AUDIT_KEY
    existing = anchor_file.read(path, key)
    today = timezone.localdate().isoformat()
    if daily and existing and existing[-1].at.startswith(today):
        return None
    report = verify_chain(upgrading=True, incremental=True)
    if not report.ok:
        raise ChainBroken(report.broken_at, report.problem, report.checked)
    legacy = AuditEvent.objects.filter(chain=SHA256_CHAIN).aggregate(last=Max("id"))["last"] or 0
    record(Event.AUDIT_ANCHORED, actor=actor, object_type="audit", data={"checked": report.checked})
    head = chain_head()
    assert head is not None  # the row just recorded
    return anchor_file.append(
        path,
        key,
        seq=head.pk,
        mac=head.hash,
        at=timezone.localtime().isoformat(timespec="seconds"),
        legacy_until=existing[0].legacy_until if existing else legacy,
    )
