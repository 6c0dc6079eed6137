"""The administrators' network allowlist (SECURITY.md AC-08; 等保 入侵防范 "应通过设定终端接入方式或网络地址
范围对通过网络进行管理的管理终端进行限制"): the system, security and audit administrators sign in and act only
from the networks in FANGPIN_ADMIN_NETWORKS. The client address is the audit context's, so the request's
IP is decided in one place (audit.middleware)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from fangpin.accounts.roles import ADMIN_ROLES
from fangpin.audit.actions import record
from fangpin.audit.context import current
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _parse(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def admin_networks() -> tuple[Network, ...]:
    return _parse(tuple(settings.FANGPIN_ADMIN_NETWORKS))


def admin_address_allowed(ip: str) -> bool:
    """True when no allowlist is set, or the address lies in one of its networks."""
    networks = admin_networks()
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False  # no or malformed address: not provably inside
    return any(address in n for n in networks)


class AdminNetworkMiddleware:
    """Checked before the view (an administrator's session used from outside) and after it (a login that
    has just succeeded from outside is undone before its answer leaves)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self._refuse_if_outside(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        return self._refuse_if_outside(request) or response

    @staticmethod
    def _refuse_if_outside(request: HttpRequest) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.role not in ADMIN_ROLES:
            return None
        ip = current.get().ip
        if admin_address_allowed(ip):
            return None
        record(
            Event.ADMIN_NETWORK_REFUSED,
            actor=user,
            outcome=Outcome.DENIED,
            object_type="request",
            object_id=request.path[:64],
            reason="address_outside_admin_networks",
            data={"ip": ip},
        )
        logout(request)
        return render(
            request,
            "403.html",
            {
                "message": "管理员账号只能从指定的管理网络登录和操作（FANGPIN_ADMIN_NETWORKS），本次会话已退出。"
            },
            status=403,
        )
