"""Every state change of an account: one function each, one transaction, one audit row."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from fangpin.accounts import devices, second_factor
from fangpin.accounts.lockout import (
    count_device_failure,
    count_failed_attempt,
    count_ip_failure,
    ip_throttled,
)
from fangpin.accounts.models import User
from fangpin.accounts.roles import ADMIN_ROLES, ROLE_LEVELS, Can, Role
from fangpin.audit.actions import record
from fangpin.audit.context import current
from fangpin.audit.events import Event
from fangpin.audit.models import AuditEvent, Outcome
from fangpin.kernel import ActionError, lock, outermost
from fangpin.regions.models import Region

# One message for unknown user, wrong password and locked account (SECURITY.md AUTH-03).
LOGIN_FAILED_MESSAGE = "用户名或密码错误，或账号已被锁定。"


class AccountError(ActionError):
    pass


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    needs_totp: bool = False
    needs_totp_setup: bool = False


def _login_failed(
    username: str,
    user: User | None,
    reason: str,
    outcome: str = Outcome.FAILURE,
    device: str | None = None,
) -> None:
    """One audit row per failed attempt; the answer to the user is the same whatever the reason."""
    record(
        Event.LOGIN_FAILED,
        username=username,
        outcome=outcome,
        object_type="user" if user else "",
        object_id=user.pk if user else "",
        reason=reason,
        data={"known_device": True} if device else None,
    )


def _refusal(ip: str, user: User | None, device: str | None) -> str | None:
    """Why this attempt is refused before its password is checked, or None. A known device is exempt
    from the address throttle and the account lock, which anyone can trigger; it has its own lock."""
    if device is None and ip_throttled(ip):
        return "throttled"
    if user is None:
        return "unknown_user"
    if not user.is_active:
        return "inactive"
    if device is not None and devices.is_locked(device, user.pk):
        return "device_locked"
    if device is None and user.is_locked():
        return "locked"
    return None


def _refuse(username: str, user: User | None, reason: str, ip: str) -> None:
    if reason == "throttled":
        record(
            Event.LOGIN_THROTTLED,
            actor=None,
            username=username,
            outcome=Outcome.DENIED,
            reason="too_many_failures_from_ip",
        )
    elif reason in ("locked", "device_locked"):
        _login_failed(username, user, reason, Outcome.DENIED)
    else:
        count_ip_failure(ip)
        _login_failed(username, user, reason)


def _wrong_password(username: str, user: User, device: str | None, ip: str) -> None:
    _login_failed(username, user, "bad_password", device=device)
    if device is None:  # from an unknown browser: counts against the address and the account
        count_ip_failure(ip)
        count_failed_attempt(user)
    else:
        count_device_failure(device, user)


@transaction.atomic
def check_password_login(username: str, password: str, device_cookie: str = "") -> LoginResult:
    """First factor. Counts failures per account and per address, or per known device (its cookie);
    every failure and lock is audited. Returns who passed and which second-factor step comes next.

    Every answer runs the password hasher exactly once, so its time does not tell whether the account
    exists, is inactive or is locked (issue #14, finding 6)."""
    ip = current.get().ip
    user = User.objects.select_for_update().filter(username=username).first()
    device = devices.known_device(device_cookie, user.pk if user else None)
    reason = _refusal(ip, user, device)
    if reason is not None:
        make_password(password)  # the cost of a check, as Django's ModelBackend does for unknown users
        _refuse(username, user, reason, ip)
        return LoginResult(None)
    assert user is not None  # _refusal refuses an unknown user
    if not user.check_password(password):
        _wrong_password(username, user, device, ip)
        return LoginResult(None)
    if device is not None:
        devices.forget_failures(device, user.pk)  # the account lock, set by unknown browsers, stays
    elif user.failed_logins or user.locked_until:
        user.failed_logins, user.first_failed_at, user.locked_until = 0, None, None
        user.save(update_fields=["failed_logins", "first_failed_at", "locked_until"])
    if second_factor.has_second_factor(user):
        return LoginResult(user, needs_totp=True)
    if user.needs_totp:
        return LoginResult(user, needs_totp_setup=True)
    return LoginResult(user)


def record_login(user: User, factors: str) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(last_login=timezone.now())
        record(
            Event.LOGIN_SUCCEEDED,
            actor=user,
            object_type="user",
            object_id=user.pk,
            data={"factors": factors},
        )


def record_logout(user: Any, reason: str = "logout") -> None:
    event = {"logout": Event.LOGOUT, "idle": Event.SESSION_TIMEOUT, "absolute": Event.SESSION_TIMEOUT}[reason]
    record(event, actor=user, object_type="user", object_id=getattr(user, "pk", ""), reason=reason)


# --- passwords ------------------------------------------------------------------------------------


def random_initial_password() -> str:
    """Random, meets every rule, and must be changed at first login (SECURITY.md AUTH-06)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        core = "".join(secrets.choice(alphabet) for _ in range(14))
        candidate = core + secrets.choice("!@#%&*?") + secrets.choice(string.digits)
        if any(c.isupper() for c in candidate) and any(c.islower() for c in candidate):
            return candidate


@transaction.atomic
def change_password(user: User, current_password: str, new_password: str) -> None:
    if not user.check_password(current_password):
        record(
            Event.PASSWORD_CHANGE_FAILED,
            actor=user,
            outcome=Outcome.FAILURE,
            object_type="user",
            object_id=user.pk,
        )
        raise AccountError("当前密码不正确")
    if current_password == new_password:
        raise AccountError("新密码不能与当前密码相同")
    password_validation.validate_password(new_password, user)
    user.set_password(new_password)
    user.password_changed_at = timezone.now()
    user.must_change_password = False
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
    record(Event.PASSWORD_CHANGED, actor=user, object_type="user", object_id=user.pk)


def _end_sessions(user: User) -> int:
    """Log a user out everywhere (deactivation, password reset, role change)."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


# --- administration (系统管理员 / 安全管理员) ------------------------------------------------------


def _check_assignment(role: str, region: Region, department: str) -> None:
    if role not in Role.values:
        raise AccountError(f"未知角色: {role}")
    if region.level not in ROLE_LEVELS[role]:
        raise AccountError(f"{Role(role).label}不能设在{region.get_level_display()}级区划（{region.name}）")
    if role == Role.DATA_OFFICER and not department:
        raise AccountError("部门数据专员须指定所属部门")
    if role != Role.DATA_OFFICER and department:
        raise AccountError("只有部门数据专员属于部门")


@transaction.atomic
def create_user(
    *,
    actor: User | None,
    username: str,
    full_name: str,
    role: str,
    region: Region,
    department: str = "",
    password: str | None = None,
) -> tuple[User, str]:
    """A new account. Without a password, a random initial one is returned to hand over once; it must
    be changed at first login."""
    username = username.strip()
    if not username or len(username) > 150 or any(c.isspace() for c in username):
        raise AccountError("用户名不能为空，不能含空格")
    if username.lower() in {"admin", "root", "test", "administrator"}:
        raise AccountError("不允许使用默认账号名（admin/root/test）")
    if User.objects.filter(username__iexact=username).exists():
        raise AccountError(f"用户名已存在: {username}")
    _check_assignment(role, region, department)
    if actor is not None and role in ADMIN_ROLES:
        # whoever creates an account knows its initial password: an administrator made on the web would
        # belong to the system admin. Administrators are made at installation (`fangpin users create`)
        # or by the security admin from an account whose holder has set their own password.
        raise AccountError("三员分立：管理员角色须由安全管理员分配给已由本人修改初始密码的账号")
    user = User(
        username=username, full_name=full_name.strip(), role=role, region=region, department=department
    )
    initial = password or random_initial_password()
    try:
        password_validation.validate_password(initial, user)
    except ValidationError as exc:
        raise AccountError("；".join(exc.messages)) from exc
    user.set_password(initial)
    user.password_changed_at = timezone.now()
    user.must_change_password = password is None
    user.save()
    record(
        Event.ACCOUNT_CREATED,
        actor=actor,
        object_type="user",
        object_id=user.pk,
        data={"username": user.username, "role": role, "region": region.prefix, "department": department},
    )
    return user, initial


@outermost
def assign_role(
    *, actor: User, user: User, role: str, region: Region, department: str = "", version: int
) -> User:
    """Role and region change (安全管理员). The form's version guards against a lost update."""
    if user.pk == actor.pk:
        raise AccountError("不能修改自己的角色")
    _check_assignment(role, region, department)
    if role in ADMIN_ROLES and role != user.role and user.must_change_password:
        raise AccountError("该账号尚未由本人修改初始密码，不能授予管理员角色（否则发放初始密码的人可冒用）")
    locked = lock(User, user.pk, version, message="该账号已被他人修改，请刷新后重试")
    old = {"role": locked.role, "region": locked.region_id, "department": locked.department}
    locked.role, locked.region, locked.department = role, region, department
    locked.bump(["role", "region", "department"])
    record(
        Event.ROLE_ASSIGNED,
        actor=actor,
        object_type="user",
        object_id=user.pk,
        data={"old": old, "new": {"role": role, "region": region.prefix, "department": department}},
    )
    _end_sessions(user)
    user.refresh_from_db()
    return user


def set_active(*, actor: User, user: User, active: bool) -> User:
    check_may_administer(actor, user, "activate" if active else "deactivate")
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        record(
            Event.ACCOUNT_ENABLED if active else Event.ACCOUNT_DISABLED,
            actor=actor,
            object_type="user",
            object_id=user.pk,
        )
        if not active:
            _end_sessions(user)
    return user


def unlock(*, actor: User, user: User) -> User:
    check_may_administer(actor, user, "unlock")
    with transaction.atomic():
        user.failed_logins, user.first_failed_at, user.locked_until = 0, None, None
        user.save(update_fields=["failed_logins", "first_failed_at", "locked_until"])
        second_factor.clear_throttle(user)
        record(Event.ACCOUNT_UNLOCKED, actor=actor, object_type="user", object_id=user.pk)
    return user


def reset_password(*, actor: User, user: User) -> str:
    """A new random initial password; the second factor stays, so a reset never bypasses it."""
    check_may_administer(actor, user, "reset_password")
    with transaction.atomic():
        initial = random_initial_password()
        user.set_password(initial)
        user.password_changed_at = timezone.now()
        user.must_change_password = True
        user.save(update_fields=["password", "password_changed_at", "must_change_password"])
        record(Event.PASSWORD_RESET, actor=actor, object_type="user", object_id=user.pk)
        second_factor.tell_the_person(user, "PASSWORD_RESET", actor=actor)
        _end_sessions(user)
    return initial


def reset_totp(*, actor: User, user: User) -> User:
    """Unbind the authenticator (a lost phone): the user enrols a new one at next login."""
    check_may_administer(actor, user, "reset_totp")
    with transaction.atomic():
        second_factor.remove_devices(user)
        record(Event.TOTP_RESET, actor=actor, object_type="user", object_id=user.pk)
        second_factor.tell_the_person(user, "TOTP_RESET", actor=actor)
        _end_sessions(user)
    return user


# --- 三员分立: who may administer whom ------------------------------------------------------------------

# Resetting both of these for one administrator is a takeover: one security administrator may do one.
_CREDENTIAL_RESETS = {"reset_password": "PASSWORD_RESET", "reset_totp": "TOTP_RESET"}
_TWO_PERSON_WINDOW = timedelta(days=30)


def check_may_administer(actor: User, user: User, action: str) -> None:
    """The one rule for account administration, checked before any change: the system admin manages
    ordinary accounts, the security admin their second factor; an administrator's account is handled
    only by a security admin, and never both credentials by the same one (no administrator can become
    another). A refusal is audited and raises AccountError."""
    problem = _administration_problem(actor, user, action)
    if problem:
        record(
            Event.ADMIN_SEPARATION_DENIED,
            actor=actor,
            outcome=Outcome.DENIED,
            object_type="user",
            object_id=user.pk,
            reason=action,
            data={"target_role": user.role},
        )
        raise AccountError(problem)


def _administration_problem(actor: User, user: User, action: str) -> str:
    if user.pk == actor.pk:
        return "不能对自己的账号执行此操作"
    if not user.is_admin_role:
        needed = Can.ASSIGN_ROLES if action == "reset_totp" else Can.MANAGE_ACCOUNTS
        return "" if actor.can(needed) else "您的角色无权执行此操作"
    if actor.role != Role.SECURITY_ADMIN:
        return "三员分立：管理员账号的启停、解锁和重置只能由安全管理员办理"
    other = {k: v for k, v in _CREDENTIAL_RESETS.items() if k != action}
    if action in _CREDENTIAL_RESETS and _reset_recently(actor, user, next(iter(other.values()))):
        return "同一安全管理员不能既重置某管理员的密码又重置其动态口令，请由另一名安全管理员办理"
    return ""


def _reset_recently(actor: User, user: User, event_type: str) -> bool:
    """Did this actor reset the other credential since the user last signed in (within the window)?"""
    since = max(filter(None, [user.last_login, timezone.now() - _TWO_PERSON_WINDOW]))
    return AuditEvent.objects.filter(
        event_type=event_type, actor_id=actor.pk, object_type="user", object_id=str(user.pk), at__gte=since
    ).exists()
