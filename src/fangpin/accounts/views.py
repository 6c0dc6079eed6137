from __future__ import annotations

import time

import segno
from django.contrib import messages
from django.contrib.auth import login, logout
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from fangpin.accounts import actions, devices, scope, second_factor
from fangpin.accounts.decorators import requires
from fangpin.accounts.forms import (
    LoginForm,
    PasswordChangeForm,
    RoleAssignForm,
    TotpForm,
    TotpSetupForm,
    UserCreateForm,
)
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.kernel import ActionError
from fangpin.regions.models import Region

PENDING_SECONDS = 300  # time allowed between the password step and the second factor


def _finish_login(request: HttpRequest, user: User, factors: str) -> HttpResponse:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # cycles the session key
    now = time.time()
    request.session["login_at"] = now
    request.session["last_seen"] = now
    actions.record_login(user, factors)
    response = redirect("web:home")
    devices.remember(response, request.COOKIES.get(devices.DEVICE_COOKIE, ""), user.pk)
    return response


def _pending_user(request: HttpRequest) -> User | None:
    user_id = request.session.get("pending_user_id")
    started = float(request.session.get("pending_at", 0))
    if not user_id or time.time() - started > PENDING_SECONDS:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:home")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = actions.check_password_login(
            form.cleaned_data["username"],
            form.cleaned_data["password"],
            device_cookie=request.COOKIES.get(devices.DEVICE_COOKIE, ""),
        )
        if result.user is None:
            form.add_error(None, actions.LOGIN_FAILED_MESSAGE)
        elif result.needs_totp or result.needs_totp_setup:
            request.session.cycle_key()
            request.session["pending_user_id"] = result.user.pk
            request.session["pending_at"] = time.time()
            # only a user with no authenticator yet may enrol one before the second step
            request.session["pending_enrolment"] = result.needs_totp_setup
            return redirect("accounts:totp_setup" if result.needs_totp_setup else "accounts:totp")
        else:
            return _finish_login(request, result.user, "password")
    return render(request, "accounts/login.html", {"form": form})


def _known_browser(request: HttpRequest, user: User) -> str | None:
    """The device id when this browser's device cookie vouches for the user (ADR 0021)."""
    return devices.known_device(request.COOKIES.get(devices.DEVICE_COOKIE, ""), user.pk)


def _abandon_login(request: HttpRequest, message: str) -> HttpResponse:
    for key in ("pending_user_id", "pending_at", "pending_enrolment"):
        request.session.pop(key, None)
    messages.error(request, message)
    return redirect("accounts:login")


_CODE_MESSAGES = {
    "throttled": "尝试过于频繁，请稍后再试",
    "replayed": "该动态口令已使用过，请等待下一个",
    "current_throttled": "尝试过于频繁，请稍后再试",
    "current_replayed": "当前动态口令已使用过，请等待下一个",
}


@require_http_methods(["GET", "POST"])
def totp_view(request: HttpRequest) -> HttpResponse:
    pending = _pending_user(request)
    if pending is None:
        messages.info(request, "请重新登录。")
        return redirect("accounts:login")
    form = TotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        checked = second_factor.verify_login_code(
            pending.pk, form.cleaned_data["code"], browser=_known_browser(request, pending)
        )
        if checked.locked:
            return _abandon_login(request, actions.LOGIN_FAILED_MESSAGE)
        if checked.user is None:
            form.add_error("code", _CODE_MESSAGES.get(checked.reason, "动态口令错误"))
        else:
            request.session.pop("pending_user_id", None)
            return _finish_login(request, checked.user, "password+totp")
    return render(request, "accounts/totp.html", {"form": form})


@require_http_methods(["GET", "POST"])
def totp_setup_view(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: at first login (administrators must) or later from the account page,
    where replacing a bound one needs its current code. Half-way through login, only a user with no
    authenticator may enrol (#14 item 1: the password alone never replaces a second factor)."""
    signed_in = request.user.is_authenticated
    user: User | None = request.user if signed_in else _pending_user(request)  # type: ignore[assignment]
    if user is None:
        return redirect("accounts:login")
    bound = second_factor.has_second_factor(user)
    if not signed_in and (bound or not request.session.get("pending_enrolment")):
        if bound:
            second_factor.record_setup_denied(user)
        return redirect("accounts:totp")
    device = second_factor.enrolment_device(user)
    form = TotpSetupForm(request.POST or None, needs_current_code=signed_in and bound)
    if request.method == "POST" and form.is_valid():
        checked = second_factor.confirm_enrolment(
            user.pk,
            form.cleaned_data["code"],
            current_code=form.cleaned_data.get("current_code"),
            signed_in=signed_in,
            browser=_known_browser(request, user),
        )
        if checked.locked:
            if signed_in:
                actions.record_logout(user)
                logout(request)
            return _abandon_login(request, actions.LOGIN_FAILED_MESSAGE)
        if checked.user is not None:
            if signed_in:
                messages.success(request, "已绑定新的动态口令。" if bound else "已启用动态口令。")
                return redirect("web:home")
            request.session.pop("pending_user_id", None)
            return _finish_login(request, checked.user, "password+totp")
        if checked.reason.startswith("current_"):
            form.add_error("current_code", _CODE_MESSAGES.get(checked.reason, "当前动态口令不正确"))
        else:
            form.add_error("code", _CODE_MESSAGES.get(checked.reason, "动态口令不正确，请核对手机时间后重试"))
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=4)
    return render(
        request,
        "accounts/totp_setup.html",
        {
            "form": form,
            "qr_svg": mark_safe(qr_svg),  # noqa: S308 - segno output, no user input
            "secret": second_factor.manual_key(device),
            "needs_current_code": signed_in and bound,
        },
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        actions.record_logout(request.user)
    logout(request)
    return redirect("accounts:login")


@requires()
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST or None)
    user: User = request.user  # type: ignore[assignment]
    if request.method == "POST" and form.is_valid():
        try:
            actions.change_password(
                user, form.cleaned_data["current_password"], form.cleaned_data["new_password"]
            )
        except actions.AccountError as exc:
            form.add_error("current_password", str(exc))
        except ValidationError as exc:
            form.add_error("new_password", exc)
        else:
            login(
                request, user, backend="django.contrib.auth.backends.ModelBackend"
            )  # keep this session valid
            request.session["login_at"] = request.session["last_seen"] = time.time()
            messages.success(request, "密码已修改。")
            return redirect("web:home")
    return render(request, "accounts/password_change.html", {"form": form})


# --- user administration -----------------------------------------------------------------------


@requires(Can.MANAGE_ACCOUNTS, Can.ASSIGN_ROLES)
@require_http_methods(["GET"])
def user_list(request: HttpRequest) -> HttpResponse:
    users = scope.users(request.user).select_related("region").order_by("region_id", "username")  # type: ignore[arg-type]
    return render(request, "accounts/user_list.html", {"users": users})


def _region_in_scope(request: HttpRequest, prefix: str) -> Region | None:
    return Region.objects.filter(prefix=prefix.strip(), prefix__startswith=request.user.region_id).first()  # type: ignore[union-attr]


@requires(Can.MANAGE_ACCOUNTS)
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        region = _region_in_scope(request, form.cleaned_data["region"])
        if region is None:
            form.add_error("region", "区划代码不存在或不在您的管辖范围内")
        else:
            try:
                user, initial = actions.create_user(
                    actor=request.user,  # type: ignore[arg-type]
                    username=form.cleaned_data["username"],
                    full_name=form.cleaned_data["full_name"],
                    role=form.cleaned_data["role"],
                    region=region,
                    department=form.cleaned_data["department"],
                )
            except actions.AccountError as exc:
                form.add_error(None, str(exc))
            else:
                return render(request, "accounts/initial_password.html", {"target": user, "initial": initial})
    return render(request, "accounts/user_form.html", {"form": form, "title": "新建账号"})


@requires(Can.MANAGE_ACCOUNTS, Can.ASSIGN_ROLES)
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    target = scope.get_or_404(actor, User, pk=pk)
    form = RoleAssignForm(
        request.POST or None,
        initial={
            "role": target.role,
            "region": target.region_id,
            "department": target.department,
            "version": target.version,
        },
    )
    if request.method == "POST":
        if not actor.can(Can.ASSIGN_ROLES):
            messages.error(request, "只有安全管理员可以分配角色和区划")
        elif form.is_valid():
            region = _region_in_scope(request, form.cleaned_data["region"])
            if region is None:
                form.add_error("region", "区划代码不存在或不在您的管辖范围内")
            else:
                try:
                    actions.assign_role(
                        actor=actor,
                        user=target,
                        role=form.cleaned_data["role"],
                        region=region,
                        department=form.cleaned_data["department"],
                        version=form.cleaned_data["version"],
                    )
                except ActionError as exc:  # an AccountError, or a Conflict
                    form.add_error(None, str(exc))
                else:
                    messages.success(request, "角色与区划已更新，该用户需重新登录。")
                    return redirect("accounts:user_detail", pk=target.pk)
    return render(request, "accounts/user_detail.html", {"target": target, "form": form})


@requires(Can.MANAGE_ACCOUNTS, Can.ASSIGN_ROLES)
@require_POST
def user_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    target = scope.get_or_404(actor, User, pk=pk)
    try:  # who may do what to whom: actions.check_may_administer
        if action == "deactivate":
            actions.set_active(actor=actor, user=target, active=False)
            messages.success(request, "账号已停用。")
        elif action == "activate":
            actions.set_active(actor=actor, user=target, active=True)
            messages.success(request, "账号已启用。")
        elif action == "unlock":
            actions.unlock(actor=actor, user=target)
            messages.success(request, "账号已解锁。")
        elif action == "reset_password":
            initial = actions.reset_password(actor=actor, user=target)
            return render(request, "accounts/initial_password.html", {"target": target, "initial": initial})
        elif action == "reset_totp":
            actions.reset_totp(actor=actor, user=target)
            messages.success(request, "动态口令已重置，该用户下次登录时重新绑定。")
        else:
            return HttpResponse("未知操作", status=400)
    except actions.AccountError as exc:
        messages.error(request, str(exc))
    return redirect("accounts:user_detail", pk=pk)
