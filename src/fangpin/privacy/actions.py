"""THE place every batch export and every reveal of personal information passes through:

- a stated purpose (a choice and a note), recorded in the audit row (SECURITY.md PI-04);
- a second person's approval when an export is above FANGPIN_EXPORT_APPROVAL_ROWS rows, then one download
  by the requester within FANGPIN_EXPORT_APPROVAL_HOURS (AC-07);
- at most FANGPIN_REVEAL_LIMIT_PER_HOUR reveals per user and hour, beyond it a refusal and an alert to the
  security administrators (issue #14 item 10).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import CAPABILITIES, Can, Role
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import AuditEvent, Outcome
from fangpin.privacy.forms import PURPOSE_NAMES, PurposeForm
from fangpin.privacy.models import ExportKind, ExportRequest

# the capability an approver needs besides REVEAL_PI (the roles trusted with full personal information)
KIND_CAPABILITY = {ExportKind.ROSTER: Can.EXPORT_ROSTER, ExportKind.HOUSEHOLDS: Can.VIEW_ANALYTICS}
REGION_LENGTHS = (2, 4, 6, 9, 12)


class PrivacyError(ValueError):
    """A refusal; the message is shown to the user as it is (Chinese)."""


@dataclass(frozen=True)
class Purpose:
    code: str
    note: str = ""

    @property
    def label(self) -> str:
        return PURPOSE_NAMES[self.code]

    def audit_data(self) -> dict[str, str]:
        return {"purpose": self.code, "purpose_note": self.note}


def purpose_from(data: Mapping[str, Any]) -> Purpose:
    """The purpose in a POST (or GET) of an export or a reveal; PrivacyError without a valid one."""
    form = PurposeForm(data)
    if not form.is_valid():
        problems = [str(m) for errors in form.errors.values() for m in errors]
        raise PrivacyError("须说明用途：" + "；".join(problems))
    return Purpose(form.cleaned_data["purpose"], form.cleaned_data["purpose_note"])


# --- approval of bulk exports (AC-07) ---------------------------------------------------------------


def needs_approval(rows: int) -> bool:
    return rows > settings.FANGPIN_EXPORT_APPROVAL_ROWS


def _ancestors(region_id: str) -> list[str]:
    return [region_id[:n] for n in REGION_LENGTHS if n <= len(region_id)]


def may_approve(user: User, request: ExportRequest) -> bool:
    """Another person, trusted with full personal information, whose region holds the export's region."""
    return (
        user.is_active
        and user.pk != request.requested_by_id
        and user.can(Can.REVEAL_PI)
        and user.can(KIND_CAPABILITY[ExportKind(request.kind)])
        and request.region_id.startswith(user.region_id)
    )


def approvers(request: ExportRequest) -> models.QuerySet[User]:
    capability = KIND_CAPABILITY[ExportKind(request.kind)]
    roles = [r for r, caps in CAPABILITIES.items() if Can.REVEAL_PI in caps and capability in caps]
    return User.objects.filter(
        is_active=True, role__in=roles, region_id__in=_ancestors(request.region_id)
    ).exclude(pk=request.requested_by_id)


def request_approval(
    actor: User, *, kind: ExportKind, region_id: str, rows: int, purpose: Purpose, params: dict[str, Any]
) -> ExportRequest:
    """Park a bulk export as a request and tell the people who may approve it."""
    from fangpin.notifications.actions import notify

    with transaction.atomic():
        request = ExportRequest.objects.create(
            kind=kind,
            requested_by=actor,
            region_id=region_id,
            rows=rows,
            params=params,
            purpose=purpose.code,
            purpose_note=purpose.note,
        )
        record(
            Event.EXPORT_APPROVAL_REQUESTED,
            actor=actor,
            object_type="export_request",
            object_id=request.pk,
            reason=purpose.note,
            data={"kind": kind, "region": region_id, "rows": rows, **purpose.audit_data(), **params},
        )
        notify(
            approvers(request),
            f"{actor.full_name or actor.username} 申请导出{ExportKind(kind).label} {rows} 行，待您审批",
            f"/privacy/exports/{request.pk}/",
            verb="export_approval",
            target=request,
        )
    return request


def decide(request: ExportRequest, *, actor: User, approve: bool, note: str = "") -> ExportRequest:
    """Approve or deny; never the requester's own, never twice. The approval holds for a limited time."""
    from fangpin.notifications.actions import notify

    if not may_approve(actor, request):
        problem = (
            "不能审批本人提出的导出申请"
            if actor.pk == request.requested_by_id
            else "您无权审批该导出申请（须为辖区内有权查看完整个人信息的其他人员）"
        )
        record(
            Event.EXPORT_DECISION_REFUSED,
            actor=actor,
            outcome=Outcome.DENIED,
            object_type="export_request",
            object_id=request.pk,
            reason=problem,
        )
        raise PrivacyError(problem)
    with transaction.atomic():
        locked = ExportRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != ExportRequest.Status.PENDING:
            raise PrivacyError("该申请已处理")
        now = timezone.now()
        locked.status = ExportRequest.Status.APPROVED if approve else ExportRequest.Status.DENIED
        locked.decided_by, locked.decided_at, locked.decision_note = actor, now, note.strip()[:200]
        if approve:
            locked.expires_at = now + dt.timedelta(hours=settings.FANGPIN_EXPORT_APPROVAL_HOURS)
        locked.save()
        record(
            Event.EXPORT_APPROVED if approve else Event.EXPORT_DENIED,
            actor=actor,
            object_type="export_request",
            object_id=locked.pk,
            reason=locked.decision_note,
            data={"kind": locked.kind, "rows": locked.rows, "requested_by": locked.requested_by_id},
        )
        notify(
            [locked.requested_by],
            f"您的{locked.get_kind_display()}导出申请{'已批准' if approve else '未获批准'}",
            f"/privacy/exports/{locked.pk}/",
            verb="export_decision",
            target=locked,
        )
    return locked


def use_approval(request: ExportRequest, *, actor: User, kind: ExportKind) -> ExportRequest:
    """The requester starts the approved export: once, before the approval expires."""
    with transaction.atomic():
        locked = ExportRequest.objects.select_for_update().get(pk=request.pk)
        if locked.requested_by_id != actor.pk or locked.kind != kind:
            raise PrivacyError("只有申请人本人可以使用该审批")
        if locked.status != ExportRequest.Status.APPROVED:
            raise PrivacyError(f"该申请当前状态为“{locked.get_status_display()}”，不能生成")
        if locked.expired:
            raise PrivacyError("审批已过有效期，请重新申请")
        locked.status, locked.used_at = ExportRequest.Status.USED, timezone.now()
        locked.save(update_fields=["status", "used_at"])
    return locked


def link_export(request: ExportRequest, export_id: int) -> None:
    ExportRequest.objects.filter(pk=request.pk).update(export_id=export_id)


def claim_download(kind: ExportKind, export_id: int, *, actor: User) -> ExportRequest | None:
    """Before a file is served: an approved export is downloaded once, within the approval's time."""
    with transaction.atomic():
        found = ExportRequest.objects.select_for_update().filter(kind=kind, export_id=export_id).first()
        problem = ""
        if found is not None:
            if found.downloaded_at is not None:
                problem = "经审批的导出只能下载一次，该文件已下载过"
            elif found.expired:
                problem = "审批已过有效期，请重新申请"
            else:
                found.downloaded_at = timezone.now()
                found.save(update_fields=["downloaded_at"])
    if problem:
        record(
            Event.EXPORT_DOWNLOAD_REFUSED,
            actor=actor,
            outcome=Outcome.DENIED,
            object_type=f"{kind}_export",
            object_id=export_id,
            reason=problem,
        )
        raise PrivacyError(problem)
    return found


# --- reveals: the throttle (issue #14 item 10) ------------------------------------------------------


def reveal_allowed(actor: User) -> bool:
    """Within the hourly limit? Beyond it the attempt is audited and, the first time in the hour, the
    security administrators above the user are alerted."""
    from fangpin.notifications.actions import notify

    limit = settings.FANGPIN_REVEAL_LIMIT_PER_HOUR
    since = timezone.now() - dt.timedelta(hours=1)
    mine = AuditEvent.objects.filter(actor_id=actor.pk, at__gte=since)
    done = mine.filter(event_type="PI_REVEAL").count()
    if done < limit:
        return True
    first = not mine.filter(event_type="PI_REVEAL_THROTTLED").exists()
    record(
        Event.PI_REVEAL_THROTTLED,
        actor=actor,
        outcome=Outcome.DENIED,
        object_type="user",
        object_id=actor.pk,
        data={"reveals_last_hour": done, "limit": limit},
    )
    if first:
        admins = User.objects.filter(
            is_active=True, role=Role.SECURITY_ADMIN, region_id__in=_ancestors(actor.region_id)
        )
        notify(
            admins,
            f"用户 {actor.username} 一小时内已查看完整个人信息 {done} 次，已被暂停查看",
            reverse("accounts:user_detail", args=[actor.pk]),
            verb="pi_reveal_throttled",
        )
    return False
