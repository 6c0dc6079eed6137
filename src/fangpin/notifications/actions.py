"""Notifications: inbox rows written in the caller's transaction; webhook posts and emails sent only after
it commits, by a background job that retries with backoff. `notify` never makes the caller fail because a
chat robot or a mail server is down (ADR 0015).

What leaves the system (webhooks, email) is the title and a link, never the body: chat groups and mail
servers are outside the system's protection, so callers keep personal data out of titles."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome
from fangpin.notifications import transports
from fangpin.notifications.models import Channel, Dispatch, DispatchStatus, Notification, RobotHost, Webhook

log = logging.getLogger(__name__)

# Seconds to wait before attempt 2, 3, ...; after the last one the dispatch is marked failed.
BACKOFF = (60, 300, 1800, 7200)


def _absolute(url: str) -> str:
    base = settings.FANGPIN_BASE_URL.rstrip("/")
    return f"{base}{url}" if url.startswith("/") and base else url


def _external_text(title: str, url: str, recipients: list[User]) -> str:
    names = "、".join(sorted({u.full_name or u.username for u in recipients}))
    lines = [f"致：{names}"] if names else []
    if url:
        lines.append(f"[在系统中查看]({_absolute(url)})")
    return "\n\n".join(lines)


def notify(
    recipients: Iterable[User],
    title: str,
    body: str = "",
    url: str = "",
    *,
    verb: str = "",
    target: models.Model | None = None,
    webhook: bool = True,
    email: bool = False,
) -> list[Notification]:
    """Put a message in each recipient's inbox (in the caller's transaction) and, once that commits, post
    it to the active robots of the recipients' regions and (email=True) mail the recipients who have an
    address. Inactive users are skipped. Returns the inbox rows."""
    if not url and body.startswith("/") and not any(c.isspace() for c in body):
        body, url = "", body  # the contract's short form notify(users, text, url)
    people = [u for u in {u.pk: u for u in recipients}.values() if u.is_active]
    if not people:
        return []
    title = title.strip()[:200] or "新消息"
    target_type = ContentType.objects.get_for_model(target) if target is not None else None
    target_id = str(target.pk) if target is not None else ""
    with transaction.atomic():
        rows = Notification.objects.bulk_create(
            [
                Notification(
                    recipient=u,
                    verb=verb[:64],
                    title=title,
                    body=body,
                    url=url[:500],
                    target_type=target_type,
                    target_id=target_id,
                )
                for u in people
            ]
        )
        dispatches: list[Dispatch] = []
        text = _external_text(title, url, people)
        if webhook:
            hooks = Webhook.objects.filter(active=True, region_id__in={u.region_id for u in people})
            dispatches += [
                Dispatch(channel=Channel.WEBHOOK, webhook=h, title=title, text=text) for h in hooks
            ]
        if email and settings.FANGPIN_NOTIFY_EMAIL:
            link = _absolute(url) if url else ""
            dispatches += [
                Dispatch(channel=Channel.EMAIL, email_to=u.email, title=title, text=link)
                for u in people
                if u.email
            ]
        if dispatches:
            saved = Dispatch.objects.bulk_create(dispatches)
            ids = [d.pk for d in saved]
            transaction.on_commit(lambda: _enqueue_all(ids))
    return rows


def notify_many(
    messages: Iterable[tuple[Iterable[User], str, str]], *, verb: str = "", webhook: bool = True
) -> int:
    """Many messages at once, each (recipients, title, url) as `notify` would send it (e.g. one per township
    after a province's screening): the inbox rows in one bulk insert, the robots of every recipient's region
    in one query, the dispatches in one bulk insert, queued once the caller commits. Returns the number of
    inbox rows."""
    prepared: list[tuple[list[User], str, str]] = []
    for recipients, title, url in messages:
        people = [u for u in {u.pk: u for u in recipients}.values() if u.is_active]
        if people:
            prepared.append((people, title.strip()[:200] or "新消息", url))
    if not prepared:
        return 0
    hooks: dict[str, list[Webhook]] = {}
    if webhook:
        regions = {u.region_id for people, _, _ in prepared for u in people}
        for hook in Webhook.objects.filter(active=True, region_id__in=regions):
            hooks.setdefault(hook.region_id, []).append(hook)
    with transaction.atomic():
        rows = Notification.objects.bulk_create(
            [
                Notification(recipient=u, verb=verb[:64], title=title, url=url[:500])
                for people, title, url in prepared
                for u in people
            ],
            batch_size=1000,
        )
        dispatches: list[Dispatch] = []
        for people, title, url in prepared:
            found = {h.pk: h for u in people for h in hooks.get(u.region_id, [])}
            text = _external_text(title, url, people)
            dispatches += [
                Dispatch(channel=Channel.WEBHOOK, webhook=h, title=title, text=text) for h in found.values()
            ]
        if dispatches:
            saved = Dispatch.objects.bulk_create(dispatches, batch_size=1000)
            ids = [d.pk for d in saved]
            transaction.on_commit(lambda: _enqueue_all(ids))
    return len(rows)


def _enqueue_all(ids: list[int]) -> None:
    for dispatch_id in ids:
        _enqueue(dispatch_id)


def _enqueue(dispatch_id: int, run_after: Any = None) -> None:
    """Hand one dispatch to the job queue; if even that fails, the retry sweep picks it up later."""
    from fangpin.notifications.tasks import deliver_dispatch

    try:
        if run_after is not None:
            deliver_dispatch.using(run_after=run_after).enqueue(dispatch_id)
        else:
            deliver_dispatch.enqueue(dispatch_id)
    except Exception:  # the caller has committed; nothing here may reach it
        log.exception(
            "notification dispatch %s could not be queued; the retry sweep will send it", dispatch_id
        )


def deliver(dispatch_id: int) -> str:
    """One delivery attempt. On failure: log, audit, and schedule the next attempt with backoff."""
    with transaction.atomic():
        dispatch = (
            Dispatch.objects.select_for_update(of=("self",))
            .select_related("webhook")
            .filter(pk=dispatch_id)
            .first()
        )
        if dispatch is None or dispatch.status != DispatchStatus.PENDING:
            return "skipped"
        dispatch.attempts += 1
        dispatch.next_attempt_at = None
        dispatch.save(update_fields=["attempts", "next_attempt_at"])
    try:
        if dispatch.channel == Channel.WEBHOOK:
            hook = dispatch.webhook
            if hook is None or not hook.active:
                raise transports.DeliveryError("群机器人已停用或删除")
            transports.post_webhook(hook.kind, hook.url, hook.secret, dispatch.title, dispatch.text)
        else:
            transports.send_email(dispatch.email_to, dispatch.title, dispatch.text)
    except Exception as exc:  # any failure is recorded, none propagates
        return _failed(dispatch, str(exc) or exc.__class__.__name__)
    dispatch.status = DispatchStatus.SENT
    dispatch.sent_at = timezone.now()
    dispatch.last_error = ""
    dispatch.save(update_fields=["status", "sent_at", "last_error"])
    return "sent"


def _failed(dispatch: Dispatch, error: str) -> str:
    log.warning("notification dispatch %s attempt %s failed: %s", dispatch.pk, dispatch.attempts, error)
    final = dispatch.attempts > len(BACKOFF)
    dispatch.last_error = error[:500]
    if final:
        dispatch.status = DispatchStatus.FAILED
    else:
        dispatch.next_attempt_at = timezone.now() + timedelta(seconds=BACKOFF[dispatch.attempts - 1])
    with transaction.atomic():
        dispatch.save(update_fields=["status", "last_error", "next_attempt_at"])
        record(
            Event.NOTIFICATION_FAILED,
            outcome=Outcome.FAILURE,
            object_type="dispatch",
            object_id=dispatch.pk,
            reason=error[:500],
            data={"channel": dispatch.channel, "attempt": dispatch.attempts, "final": final},
        )
    if not final and _backend_defers():
        _enqueue(dispatch.pk, run_after=dispatch.next_attempt_at)
    return "failed" if final else "retry"


def _backend_defers() -> bool:
    from django_tasks import default_task_backend

    return bool(default_task_backend.supports_defer)


def retry_due(now: Any = None) -> int:
    """Send every pending dispatch whose time has come (also those never queued). For backends that cannot
    defer a job, and as a safety net: `fangpin manage notifications_retry`."""
    now = now or timezone.now()
    due = Dispatch.objects.filter(status=DispatchStatus.PENDING).filter(
        models.Q(next_attempt_at__lte=now) | models.Q(next_attempt_at__isnull=True, attempts=0)
    )
    count = 0
    for dispatch_id in due.values_list("pk", flat=True):
        deliver(dispatch_id)
        count += 1
    return count


# --- the inbox -----------------------------------------------------------------------------------------


def unread_count(user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mark_read(notification: Notification, *, actor: User) -> None:
    """Reading one's own messages is not a state change of the record: no audit row."""
    if notification.recipient_id != actor.pk:
        raise PermissionError("只能标记自己的消息")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])


def mark_all_read(actor: User) -> int:
    return Notification.objects.filter(recipient=actor, read_at__isnull=True).update(read_at=timezone.now())


# --- group robots (configured by the system administrator of a region) ---------------------------------


class WebhookError(ValueError):
    """Bad robot settings: the message is shown as is."""


@transaction.atomic
def add_webhook(*, actor: User, region_id: str, kind: str, name: str, url: str, secret: str = "") -> Webhook:
    if not region_id.startswith(str(actor.region_id)):
        raise WebhookError("只能为本辖区配置群机器人")
    try:  # checked here and again at every send (the name may resolve elsewhere by then)
        host = transports.check_target(url).host
    except transports.DeliveryError as exc:
        raise WebhookError(str(exc)) from exc
    hook = Webhook.objects.create(
        region_id=region_id, kind=kind, name=name.strip()[:100], url=url.strip(), secret=secret.strip()
    )
    # the URL carries the robot's key: the audit row names the host only
    record(
        Event.WEBHOOK_ADDED,
        actor=actor,
        object_type="webhook",
        object_id=hook.pk,
        data={"kind": kind, "host": host},
    )
    return hook


@transaction.atomic
def set_webhook_active(hook: Webhook, active: bool, *, actor: User) -> None:
    hook.active = active
    hook.save(update_fields=["active"])
    record(
        Event.WEBHOOK_ACTIVE if active else Event.WEBHOOK_INACTIVE,
        actor=actor,
        object_type="webhook",
        object_id=hook.pk,
    )


def send_test(hook: Webhook, *, actor: User) -> str:
    """Post a test message now; returns "" on success or the reason it failed (the allowlist's verdict or
    the HTTP status, never the answer's body: the page shows it)."""
    try:
        transports.post_webhook(
            hook.kind,
            hook.url,
            hook.secret,
            "测试消息",
            f"由 {actor.full_name or actor.username} 发送的群机器人测试",
        )
    except transports.DeliveryError as exc:
        return str(exc)
    return ""


# --- the hosts robots may call (set by the security administrator) ----------------------------------------


@transaction.atomic
def add_robot_host(*, actor: User, host: str, allow_private: bool = False, note: str = "") -> RobotHost:
    host = host.strip().lower().rstrip(".")
    if RobotHost.objects.filter(host=host).exists():
        raise WebhookError(f"{host} 已在名单中")
    entry = RobotHost.objects.create(
        host=host, allow_private=allow_private, note=note.strip()[:200], added_by=actor.username
    )
    record(
        Event.ROBOT_HOST_ADDED,
        actor=actor,
        object_type="robot_host",
        object_id=entry.pk,
        data={"host": host, "allow_private": allow_private},
    )
    return entry


@transaction.atomic
def remove_robot_host(entry: RobotHost, *, actor: User) -> None:
    record(
        Event.ROBOT_HOST_REMOVED,
        actor=actor,
        object_type="robot_host",
        object_id=entry.pk,
        data={"host": entry.host, "allow_private": entry.allow_private},
    )
    entry.delete()
