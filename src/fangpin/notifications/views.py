from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.notifications import actions
from fangpin.notifications.models import Notification


@requires()
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    messages = scope.notifications(user)
    if request.GET.get("unread"):
        messages = messages.filter(read_at__isnull=True)
    page = Paginator(messages, 30).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/inbox.html",
        {"page": page, "unread": actions.unread_count(user), "only_unread": bool(request.GET.get("unread"))},
    )


@requires()
@require_GET
def badge(request: HttpRequest) -> HttpResponse:
    """The unread count in the top bar; htmx polls it."""
    count = actions.unread_count(request.user)  # type: ignore[arg-type]
    return render(request, "notifications/_badge.html", {"unread_count": count})


@requires()
@require_POST
def read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one message read and follow its link (a local path only: never an open redirect)."""
    user: User = request.user  # type: ignore[assignment]
    message = scope.get_or_404(user, Notification, pk=pk)
    actions.mark_read(message, actor=user)
    safe = url_has_allowed_host_and_scheme(message.url, allowed_hosts={request.get_host()})
    if message.url and safe and request.POST.get("follow"):
        return redirect(message.url)
    return redirect("notifications:inbox")


@requires()
@require_POST
def read_all(request: HttpRequest) -> HttpResponse:
    actions.mark_all_read(request.user)  # type: ignore[arg-type]
    return redirect("notifications:inbox")
