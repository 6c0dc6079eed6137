"""The second factor: TOTP authenticator apps (RFC 6238) on django-otp's `TOTPDevice` (ADR 0020).

django-otp keeps the secret, checks a code within ±1 step of drift, refuses a code at or before the
last one used, and backs off exponentially after failures on a device. What is fangpin's own:
- who may enrol: a fully signed-in user, or a user half-way through login who has NO confirmed device
  (the first enrolment an administrator must make); re-binding a bound device needs its current code;
- every wrong code counts towards the account lockout, like a wrong password (SECURITY.md AUTH-03);
- every change is audited, and the person is told (`account_security_changed`).
"""

from __future__ import annotations

from base64 import b32encode
from dataclasses import dataclass

from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from fangpin.accounts.lockout import count_failure_for, ip_throttled, is_locked_for
from fangpin.accounts.models import User
from fangpin.accounts.signals import account_security_changed
from fangpin.audit.actions import record
from fangpin.audit.context import current
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome

DEVICE_NAME = "authenticator"


@dataclass(frozen=True)
class CodeCheck:
    """The answer to one code: the user when it was right, else why not (for the message and audit)."""

    user: User | None
    reason: str = ""  # wrong_code | replayed | throttled | locked | no_device

    @property
    def locked(self) -> bool:
        return self.reason == "locked"


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def has_second_factor(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def enrolment_device(user: User) -> TOTPDevice:
    """The device being enrolled: created once with a random key and kept until confirmed, so that
    reloading the page shows the same QR code, and failed codes on it are throttled like any other."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def manual_key(device: TOTPDevice) -> str:
    """The secret as authenticator apps expect it typed in (base32)."""
    return b32encode(device.bin_key).decode()


def _is_replay(device: TOTPDevice, code: str) -> bool:
    """A code of the last step already used: worth a separate audit reason (someone saw the code)."""
    if not code.isdigit() or device.last_t < 0:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = device.last_t * device.step + device.t0
    return bool(totp.token() == int(code))


def _check_code(user: User, device: TOTPDevice, code: str, browser: str | None) -> CodeCheck:
    """One code against one device, with the lockout and an audit row for each failure. `browser` is
    the known-device id of the login (ADR 0021): its failures count against it, not the account. The
    caller holds the user's row lock."""
    if is_locked_for(user, browser):
        record(
            Event.TOTP_FAILED,
            username=user.username,
            outcome=Outcome.DENIED,
            object_type="user",
            object_id=user.pk,
            reason="locked",
        )
        return CodeCheck(None, "locked")
    code = code.strip().replace(" ", "")
    ip = current.get().ip
    allowed = (browser is not None or not ip_throttled(ip)) and device.verify_is_allowed()[0]
    if allowed and code.isdigit() and len(code) == device.digits and device.verify_token(code):
        return CodeCheck(user)
    if allowed and not (code.isdigit() and len(code) == device.digits):
        device.throttle_increment(commit=True)  # verify_token was not asked: count it all the same
    reason = "throttled" if not allowed else ("replayed" if _is_replay(device, code) else "wrong_code")
    record(
        Event.TOTP_FAILED,
        username=user.username,
        outcome=Outcome.FAILURE,
        object_type="user",
        object_id=user.pk,
        reason=reason,
    )
    locked = count_failure_for(user, browser, ip)
    return CodeCheck(None, "locked" if locked else reason)


@transaction.atomic
def verify_login_code(user_id: int, code: str, *, browser: str | None = None) -> CodeCheck:
    """The second step of a login."""
    user = User.objects.select_for_update().get(pk=user_id)
    device = confirmed_device(user)
    if device is None:
        return CodeCheck(None, "no_device")
    return _check_code(user, device, code, browser)


@transaction.atomic
def confirm_enrolment(
    user_id: int,
    code: str,
    *,
    current_code: str | None = None,
    signed_in: bool,
    browser: str | None = None,
) -> CodeCheck:
    """Bind the device being enrolled once a code from it proves the app holds the secret.

    A user who already has a bound device must be fully signed in AND give that device's current code;
    nobody half-way through login can replace it (the bypass of #14 item 1)."""
    user = User.objects.select_for_update().get(pk=user_id)
    old = confirmed_device(user)
    if old is not None:
        if not signed_in:
            record_setup_denied(user)
            return CodeCheck(None, "already_bound")
        checked = _check_code(user, old, current_code or "", browser)
        if checked.user is None:
            return CodeCheck(None, "current_" + checked.reason if not checked.locked else "locked")
    device = enrolment_device(user)
    checked = _check_code(user, device, code, browser)
    if checked.user is None:
        return checked
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    event = Event.TOTP_REBOUND if old is not None else Event.TOTP_ENROLLED
    record(event, actor=user, object_type="user", object_id=user.pk)
    tell_the_person(user, event, actor=user)
    return CodeCheck(user)


def record_setup_denied(user: User) -> None:
    record(
        Event.TOTP_SETUP_DENIED,
        username=user.username,
        outcome=Outcome.DENIED,
        object_type="user",
        object_id=user.pk,
        reason="second_factor_already_bound",
    )


def remove_devices(user: User) -> int:
    """Unbind every authenticator (an administrator's reset); the user enrols again at next login."""
    deleted, _ = TOTPDevice.objects.filter(user=user).delete()
    return int(deleted)


def clear_throttle(user: User) -> None:
    """Unlocking an account also ends django-otp's back-off on its devices."""
    TOTPDevice.objects.filter(user=user).update(throttling_failure_count=0, throttling_failure_timestamp=None)


def tell_the_person(user: User, event: str, *, actor: User | None) -> None:
    """In the caller's transaction: the inbox row is part of the change; mail leaves after commit."""
    account_security_changed.send(sender=User, user=user, event=event, actor=actor)
