from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from fangpin.accounts.roles import Can
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome

View = Callable[..., HttpResponse]


def requires(*capabilities: Can) -> Callable[[View], View]:
    """Deny by default: a view declares the capabilities that admit a user (any one of them; none listed
    = any signed-in user).
    Anonymous → login page; a role without the capability → 403, audited."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if capabilities and not any(user.can(c) for c in capabilities):
                _record_denial(request, "view", capabilities)
                raise PermissionDenied("您的角色无权访问此页面")
            return view(request, *args, **kwargs)

        wrapped.required_capabilities = capabilities  # type: ignore[attr-defined]
        return wrapped

    return decorator


def api_user(request: HttpRequest, *capabilities: Can) -> Any:
    """The JSON API's counterpart of `requires`: the signed-in user if their role has any of
    `capabilities`; otherwise an audited ACCESS_DENIED and HTTP 403."""
    from ninja.errors import HttpError

    user = request.user
    if not any(user.can(c) for c in capabilities):  # type: ignore[union-attr]
        _record_denial(request, "api", capabilities)
        raise HttpError(403, "您的角色无权访问")
    return user


def _record_denial(request: HttpRequest, kind: str, capabilities: tuple[Can, ...]) -> None:
    """The audit row of a refused page or API call: who, where, which capability was missing."""
    record(
        Event.ACCESS_DENIED,
        actor=request.user,
        outcome=Outcome.DENIED,
        object_type=kind,
        object_id=request.path[:64],
        reason=f"missing:{','.join(capabilities)}",
    )
