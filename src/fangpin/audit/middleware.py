from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from fangpin.audit.context import RequestContext, current

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")


def client_ip(request: HttpRequest) -> str:
    """The one place an address is read (audit rows, login throttle, declaration rate limit).

    X-Forwarded-For is written by the client first, then each proxy appends the address it received from:
    only the last FANGPIN_TRUSTED_PROXIES entries were written by our own proxies, and the client is the
    one that many from the right. 0 (the default) ignores the header entirely."""
    peer = str(request.META.get("REMOTE_ADDR", ""))[:45]
    proxies = settings.FANGPIN_TRUSTED_PROXIES
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    if proxies <= 0 or not forwarded:
        return peer
    entries = [entry.strip() for entry in forwarded.split(",")]
    # fewer entries than proxies: the request skipped the outer ones; the first was still written by ours
    candidate = entries[-proxies] if len(entries) >= proxies else entries[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = current.set(
            RequestContext(ip=client_ip(request), request_id=request_id, path=request.path[:200])
        )
        try:
            response = self.get_response(request)
        finally:
            current.reset(token)
        response["X-Request-ID"] = request_id
        return response
