from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.audit.actions import chain_head, record, verify_chain
from fangpin.audit.events import Event
from fangpin.audit.models import AuditEvent
from fangpin.lib.spreadsheet import csv_writer
from fangpin.privacy import actions as privacy


def _filtered(request: HttpRequest, params: dict[str, str]) -> QuerySet[AuditEvent]:
    events = scope.audit_events(request.user)  # type: ignore[arg-type]
    if params.get("event_type"):
        events = events.filter(event_type=params["event_type"].strip().upper())
    if params.get("username"):
        events = events.filter(actor_username=params["username"].strip())
    for key, lookup in (("since", "at__date__gte"), ("until", "at__date__lte")):
        if not params.get(key):
            continue
        try:
            events = events.filter(**{lookup: dt.date.fromisoformat(params[key])})
        except ValueError:
            messages.error(request, f"日期格式应为 YYYY-MM-DD：{params[key]}（该条件未生效）")
    return events.order_by("-id")


@requires(Can.VIEW_AUDIT)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    params = {k: request.GET.get(k, "") for k in ("event_type", "username", "since", "until")}
    page = Paginator(_filtered(request, params), 100).get_page(request.GET.get("page"))
    record(
        Event.AUDIT_QUERIED,
        actor=request.user,
        object_type="audit",
        data={k: v for k, v in params.items() if v},
    )
    return render(request, "audit/audit_list.html", {"page": page, "params": params})


@requires(Can.VIEW_AUDIT)
@require_POST
def audit_export(request: HttpRequest) -> HttpResponse:
    params = {k: request.POST.get(k, "") for k in ("event_type", "username", "since", "until")}
    try:
        purpose = privacy.purpose_from(request.POST)
    except privacy.PrivacyError as exc:
        return render(request, "privacy/refused.html", {"message": str(exc)}, status=400)
    events = _filtered(request, params)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response.write("\ufeff")  # Excel opens UTF-8 CSV correctly only with a BOM
    writer = csv_writer(response)
    writer.writerow(
        [
            "id",
            "时间",
            "用户",
            "角色",
            "用户区划",
            "IP",
            "请求ID",
            "事件",
            "结果",
            "对象类型",
            "对象ID",
            "事由",
            "详情",
            "MAC",
        ]
    )
    count = 0
    for e in events.iterator(chunk_size=2000):
        writer.writerow(
            [
                e.pk,
                timezone.localtime(e.at).isoformat(),
                e.actor_username,
                e.actor_role,
                e.actor_region,
                e.ip,
                e.request_id,
                e.event_type,
                e.outcome,
                e.object_type,
                e.object_id,
                e.reason,
                e.data,
                e.hash,
            ]
        )
        count += 1
    head = chain_head()  # the chain head when exported: compare it with the anchor file (ADR 0022)
    if head is not None:
        writer.writerow(["链头", head.pk, timezone.localtime(head.at).isoformat(), *[""] * 10, head.hash])
        response["X-Audit-Chain-Head"] = f"{head.pk} {head.hash}"
    record(
        Event.AUDIT_EXPORTED,
        actor=request.user,
        object_type="audit",
        reason=purpose.note,
        data={"rows": count, **{k: v for k, v in params.items() if v}, **purpose.audit_data()},
    )
    return response


@requires(Can.VIEW_AUDIT)
@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    report = verify_chain()
    record(
        Event.AUDIT_VERIFIED,
        actor=user,
        object_type="audit",
        data={"checked": report.checked, "broken_at": report.broken_at},
    )
    return render(request, "audit/_verify_result.html", {"report": report})
