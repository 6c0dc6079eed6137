"""Account lockout (SECURITY.md AUTH-03): failures of either factor count in one window per account."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from fangpin.accounts import devices
from fangpin.accounts.models import User
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome


def count_failed_attempt(user: User) -> bool:
    """Count one failed password or code for a row-locked user; lock the account at the threshold
    (audited `ACCOUNT_LOCKED`). Returns whether the account is now locked."""
    now = timezone.now()
    window = timedelta(minutes=settings.FANGPIN_LOCKOUT_WINDOW_MINUTES)
    if user.first_failed_at is None or now - user.first_failed_at > window:
        user.first_failed_at, user.failed_logins = now, 0
    user.failed_logins += 1
    fields = ["failed_logins", "first_failed_at"]
    if user.failed_logins >= settings.FANGPIN_LOCKOUT_THRESHOLD:
        user.locked_until = now + timedelta(minutes=settings.FANGPIN_LOCKOUT_MINUTES)
        fields.append("locked_until")
        record(
            Event.ACCOUNT_LOCKED,
            username=user.username,
            outcome=Outcome.DENIED,
            object_type="user",
            object_id=user.pk,
            data={"failures": user.failed_logins, "until": user.locked_until.isoformat()},
        )
    user.save(update_fields=fields)
    return user.locked_until is not None and user.locked_until > now


def count_device_failure(device: str, user: User) -> bool:
    """A failure from a browser where the user signed in before counts against that device only
    (ADR 0021); at the threshold the device is locked for this user (audited `DEVICE_LOCKED`)."""
    if not devices.count_failure(device, user.pk):
        return False
    record(
        Event.DEVICE_LOCKED,
        username=user.username,
        outcome=Outcome.DENIED,
        object_type="user",
        object_id=user.pk,
        data={"failures": settings.FANGPIN_LOCKOUT_THRESHOLD, "minutes": settings.FANGPIN_LOCKOUT_MINUTES},
    )
    return True


def is_locked_for(user: User, device: str | None) -> bool:
    """Locked for this attempt: a known device has its own lock, any other browser the account's."""
    return devices.is_locked(device, user.pk) if device else user.is_locked()


def count_failure_for(user: User, device: str | None, ip: str) -> bool:
    """Count one failed factor where it belongs; True when that locks this attempt's path."""
    if device:
        return count_device_failure(device, user)
    count_ip_failure(ip)
    return count_failed_attempt(user)


# Per source address: many failures from one address throttle it (a guesser spraying accounts).


def _ip_key(ip: str) -> str:
    return f"login-failures:{ip}"


def ip_throttled(ip: str) -> bool:
    return bool(ip) and int(cache.get(_ip_key(ip), 0)) >= settings.FANGPIN_IP_FAILURE_LIMIT


def count_ip_failure(ip: str) -> None:
    if not ip:
        return
    key = _ip_key(ip)
    cache.add(key, 0, timeout=settings.FANGPIN_LOCKOUT_WINDOW_MINUTES * 60)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=settings.FANGPIN_LOCKOUT_WINDOW_MINUTES * 60)
