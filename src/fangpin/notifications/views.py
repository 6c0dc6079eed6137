from __future__ import annotations

from django.contrib import messages as django_messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.notifications import actions
from fangpin.notifications.forms import RobotHostForm, WebhookForm
from fangpin.notifications.models import Notification, RobotHost, Webhook


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


@requires(Can.MANAGE_ACCOUNTS)
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest) -> HttpResponse:
    """The group robots of the administrator's region; POST adds one."""
    user: User = request.user  # type: ignore[assignment]
    regions = scope.regions(user).exclude(level="grid").order_by("prefix")
    form = WebhookForm(request.POST or None)
    form.fields["region_id"].choices = [(r.prefix, f"{r.prefix} {r.name}") for r in regions[:2000]]  # type: ignore[attr-defined]
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                actions.add_webhook(actor=user, **form.cleaned_data)
            except actions.WebhookError as exc:
                form.add_error(None, str(exc))
            else:
                django_messages.success(request, "已添加群机器人")
                return redirect("notifications:webhook_list")
        status = 400
    hooks = scope.webhooks(user).select_related("region")
    return render(request, "notifications/webhooks.html", {"hooks": hooks, "form": form}, status=status)


@requires(Can.MANAGE_ACCOUNTS)
@require_POST
def webhook_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Enable, disable, or send a test message."""
    user: User = request.user  # type: ignore[assignment]
    hook = scope.get_or_404(user, Webhook, pk=pk)
    action = request.POST.get("action", "")
    if action == "test":
        error = actions.send_test(hook, actor=user)
        if error:
            django_messages.error(request, f"测试消息发送失败：{error}")
        else:
            django_messages.success(request, "测试消息已发送")
    elif action in ("enable", "disable"):
        actions.set_webhook_active(hook, action == "enable", actor=user)
    return redirect("notifications:webhook_list")


@requires(Can.MANAGE_ROBOT_HOSTS)
@require_http_methods(["GET", "POST"])
def robot_hosts(request: HttpRequest) -> HttpResponse:
    """The hosts group robots may be pointed at (the whole system's list); POST adds one."""
    user: User = request.user  # type: ignore[assignment]
    form = RobotHostForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                actions.add_robot_host(actor=user, **form.cleaned_data)
            except actions.WebhookError as exc:
                form.add_error("host", str(exc))
            else:
                django_messages.success(request, "已加入名单")
                return redirect("notifications:robot_hosts")
        status = 400
    context = {"hosts": RobotHost.objects.all(), "form": form}
    return render(request, "notifications/robot_hosts.html", context, status=status)


@requires(Can.MANAGE_ROBOT_HOSTS)
@require_POST
def robot_host_remove(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(RobotHost, pk=pk)
    actions.remove_robot_host(entry, actor=request.user)  # type: ignore[arg-type]
    django_messages.success(request, f"已从名单移除 {entry.host}")
    return redirect("notifications:robot_hosts")
