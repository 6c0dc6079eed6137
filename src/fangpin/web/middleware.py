from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.urls import reverse

# The Content-Security-Policy is django-csp's (settings.CONTENT_SECURITY_POLICY).


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
        return response


NUL_REFUSED = "请求中含有不允许的空字符（NUL），请检查输入。"
# A JSON string's escape for NUL (not preceded by another backslash, which would make it literal text).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class RefuseNulMiddleware:
    """A NUL character belongs in no text this system takes, and PostgreSQL can neither store nor compare
    one: a NUL in a URL, a query, a form field or a JSON string ended in an error page (500) wherever it
    reached a query (#14 crawl). Refused here, once for every view, with a 400."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _carries_nul(request):
            return self.get_response(request)
        if request.path.startswith(reverse("api:api-root")):  # the API answers JSON, errors included
            return JsonResponse(
                {"detail": NUL_REFUSED}, status=400, json_dumps_params={"ensure_ascii": False}
            )
        return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain; charset=utf-8")


def _carries_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path or any("\x00" in k + "".join(v) for k, v in request.GET.lists()):
        return True
    if request.content_type == "application/json":
        return b"\x00" in request.body or _JSON_NUL.search(request.body) is not None
    if request.method == "POST":
        return any("\x00" in k + "".join(v) for k, v in request.POST.lists())
    return False
