"""Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser where a user
signed in before carries a signed cookie naming it and that user. Villagers share one township-office
address, so the per-address throttle and the account lock, both of which a stranger can trigger, do not
apply to a known device; a known device is rate limited by its own failures instead (issue #14)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpResponse

DEVICE_COOKIE = "fangpin_device"
_SALT = "fangpin.accounts.device"
_MAX_USERS = 10  # colleagues sharing an office computer each keep their trust on it


def _max_age() -> timedelta:
    return timedelta(days=settings.FANGPIN_DEVICE_COOKIE_DAYS)


def _read(cookie: str) -> tuple[str, list[int]] | None:
    """(device id, ids of the users who signed in on it), or None for a missing, forged or old cookie."""
    if not cookie:
        return None
    try:
        payload: Any = signing.loads(cookie, salt=_SALT, max_age=_max_age())
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    device, users = payload.get("d"), payload.get("u")
    if (
        not isinstance(device, str)
        or not isinstance(users, list)
        or not all(isinstance(u, int) for u in users)
    ):
        return None
    return device, users


def known_device(cookie: str, user_id: int | None) -> str | None:
    """The device id if `cookie` is a valid device cookie on which this user signed in before."""
    read = _read(cookie)
    return read[0] if read and user_id is not None and user_id in read[1] else None


def remember(response: HttpResponse, cookie: str, user_id: int) -> None:
    """After a complete login: the browser's device cookie now also vouches for this user."""
    device, users = _read(cookie) or (secrets.token_urlsafe(16), [])
    users = [u for u in users if u != user_id][-(_MAX_USERS - 1) :] + [user_id]
    response.set_cookie(
        DEVICE_COOKIE,
        signing.dumps({"d": device, "u": users}, salt=_SALT),
        max_age=int(_max_age().total_seconds()),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


# --- failures per (device, user), in the cache shared by all workers --------------------------------


def count_in_window(key: str, seconds: int) -> int:
    """Add one to a counter that is forgotten `seconds` after its first count; the new value."""
    cache.add(key, 0, timeout=seconds)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds)
        return 1


def _failures_key(device: str, user_id: int) -> str:
    return f"device-failures:{device}:{user_id}"


def _lock_key(device: str, user_id: int) -> str:
    return f"device-locked:{device}:{user_id}"


def is_locked(device: str, user_id: int) -> bool:
    return bool(cache.get(_lock_key(device, user_id)))


def count_failure(device: str, user_id: int) -> bool:
    """One more wrong password from this device for this user; True when that locks the device."""
    failures = count_in_window(_failures_key(device, user_id), settings.FANGPIN_LOCKOUT_WINDOW_MINUTES * 60)
    if failures < settings.FANGPIN_LOCKOUT_THRESHOLD:
        return False
    cache.set(_lock_key(device, user_id), True, timeout=settings.FANGPIN_LOCKOUT_MINUTES * 60)
    cache.delete(_failures_key(device, user_id))
    return True


def forget_failures(device: str, user_id: int) -> None:
    cache.delete(_failures_key(device, user_id))
