from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# The Content-Security-Policy is django-csp's (settings.CONTENT_SECURITY_POLICY).


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
        return response
