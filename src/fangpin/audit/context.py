"""Who is asking, from where: set once per request by the middleware, read by every audit write."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip: str = ""
    request_id: str = ""
    path: str = ""


# The default is frozen (immutable), so sharing it between requests is safe.
current: ContextVar[RequestContext] = ContextVar(
    "fangpin_request_context",
    default=RequestContext(),  # noqa: B039
)
