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

from fangpin.accounts import actions, devices, scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.forms import LoginForm, PasswordChangeForm, RoleAssignForm, TotpForm, UserCreateForm
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
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
            if result.needs_totp_setup:
                request.session["totp_setup_secret"] = actions.new_totp_secret()
                return redirect("accounts:totp_setup")
            return redirect("accounts:totp")
        else:
            return _finish_login(request, result.user, "password")
    return render(request, "accounts/login.html", {"form": form})


@require_http_methods(["GET", "POST"])
def totp_view(request: HttpRequest) -> HttpResponse:
    pending = _pending_user(request)
    if pending is None:
        messages.info(request, "请重新登录。")
        return redirect("accounts:login")
    form = TotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = actions.verify_totp(pending.pk, form.cleaned_data["code"])
        if user is None:
            form.add_error("code", "动态口令错误或已使用过")
        else:
            request.session.pop("pending_user_id", None)
            return _finish_login(request, user, "password+totp")
    return render(request, "accounts/totp.html", {"form": form})


@require_http_methods(["GET", "POST"])
def totp_setup_view(request: HttpRequest) -> HttpResponse:
    """Enrol the authenticator app: during login (administrators must) or later from the account page."""
    user = request.user if request.user.is_authenticated else _pending_user(request)
    if user is None:
        return redirect("accounts:login")
    secret = request.session.get("totp_setup_secret") or actions.new_totp_secret()
    request.session["totp_setup_secret"] = secret
    form = TotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed = actions.confirm_totp_setup(user.pk, secret, form.cleaned_data["code"])
        if confirmed is None:
            form.add_error("code", "动态口令不正确，请核对手机时间后重试")
        else:
            request.session.pop("totp_setup_secret", None)
            if request.user.is_authenticated:
                messages.success(request, "已启用动态口令。")
                return redirect("web:home")
            request.session.pop("pending_user_id", None)
            return _finish_login(request, confirmed, "password+totp")
    uri = actions.totp_uri(user, secret)
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4)
    return render(
        request,
        "accounts/totp_setup.html",
        {"form": form, "qr_svg": mark_safe(qr_svg), "secret": secret},  # noqa: S308 - segno output, no user input
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
                except actions.AccountError as exc:
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
    needed = Can.ASSIGN_ROLES if action == "reset_totp" else Can.MANAGE_ACCOUNTS
    if not actor.can(needed):
        messages.error(request, "您的角色无权执行此操作")
        return redirect("accounts:user_detail", pk=pk)
    try:
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
