"""Session policy (SECURITY.md SES-01, AUTH-02): idle and absolute timeouts end the session on the
server; an expired or initial password allows nothing but changing it; PI pages are never cached."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from fangpin.accounts.actions import record_logout

ALWAYS_ALLOWED_PREFIXES = ("/static/", "/healthz")
# Activity is recorded at most once a minute: the idle timeout then ends a session after 29–30 minutes
# without a request, never later, and a page view does not rewrite the session row every time.
SESSION_TOUCH_SECONDS = 60


class SessionPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            now = time.time()
            last_seen = float(request.session.get("last_seen", now))
            login_at = float(request.session.get("login_at", now))
            reason = None
            if now - last_seen > settings.FANGPIN_IDLE_TIMEOUT_MINUTES * 60:
                reason = "idle"
            elif now - login_at > settings.FANGPIN_SESSION_MAX_HOURS * 3600:
                reason = "absolute"
            if reason:
                record_logout(user, reason)
                logout(request)  # flushes the session row on the server
                messages.info(
                    request,
                    "您已超时未操作，请重新登录。" if reason == "idle" else "会话已达最长时限，请重新登录。",
                )
                return _to_login(request)
            if now - last_seen >= SESSION_TOUCH_SECONDS or "last_seen" not in request.session:
                request.session["last_seen"] = (
                    now  # (a write of the session row: once a minute, not per request)
                )
            request.session.setdefault("login_at", now)
            if user.password_expired() and not _allowed_while_password_expired(request.path):
                messages.warning(request, "请先修改密码（初始密码或密码已过期）。")
                return redirect("accounts:password_change")
        response = self.get_response(request)
        if user.is_authenticated and not request.path.startswith(ALWAYS_ALLOWED_PREFIXES):
            response["Cache-Control"] = "no-store"
        return response


def _allowed_while_password_expired(path: str) -> bool:
    allowed = (reverse("accounts:password_change"), reverse("accounts:logout"))
    return path in allowed or path.startswith(ALWAYS_ALLOWED_PREFIXES)


def _to_login(request: HttpRequest) -> HttpResponse:
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("accounts:login")
        return response
    return redirect("accounts:login")
