"""Bulk-export approvals (SECURITY.md AC-07): the requester's and the approver's pages."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.privacy import actions
from fangpin.privacy.forms import PURPOSE_NAMES, DecisionForm
from fangpin.privacy.models import ExportKind, ExportRequest


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@requires(Can.EXPORT_ROSTER, Can.VIEW_ANALYTICS)
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    visible = scope.export_requests(user).select_related("requested_by", "region")[:100]
    return render(
        request,
        "privacy/request_list.html",
        {
            "mine": [r for r in visible if r.requested_by_id == user.pk],
            "to_decide": [
                r
                for r in visible
                if r.status == ExportRequest.Status.PENDING and actions.may_approve(user, r)
            ],
        },
    )


@requires(Can.EXPORT_ROSTER, Can.VIEW_ANALYTICS)
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _me(request)
    found = scope.get_or_404(user, ExportRequest, pk=pk)
    return render(
        request,
        "privacy/request_detail.html",
        {
            "req": found,
            "purpose_label": PURPOSE_NAMES.get(found.purpose, found.purpose),
            "can_decide": found.status == ExportRequest.Status.PENDING and actions.may_approve(user, found),
            "can_use": found.requested_by_id == user.pk
            and found.status == ExportRequest.Status.APPROVED
            and not found.expired,
        },
    )


@requires(Can.EXPORT_ROSTER, Can.VIEW_ANALYTICS)
@require_POST
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = _me(request)
    found = scope.get_or_404(user, ExportRequest, pk=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "请选择批准或不批准")
        return redirect("privacy:export_request_detail", found.pk)
    try:
        actions.decide(
            found,
            actor=user,
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
        )
    except actions.PrivacyError as exc:
        messages.error(request, str(exc))
        return redirect("privacy:export_request_detail", found.pk)
    messages.success(request, "已审批")
    return redirect("privacy:export_request_detail", found.pk)


@requires(Can.EXPORT_ROSTER, Can.VIEW_ANALYTICS)
@require_POST
def request_use(request: HttpRequest, pk: int) -> HttpResponse:
    """The requester starts the approved export (once): the export's own code runs with the approval."""
    from fangpin.analytics.actions import start_household_export
    from fangpin.assistance.actions import AssistanceError, request_roster_export

    user = _me(request)
    found = scope.get_or_404(user, ExportRequest, pk=pk)
    purpose = actions.Purpose(found.purpose, found.purpose_note)
    try:
        if found.kind == ExportKind.ROSTER:
            roster = request_roster_export(
                user,
                purpose=purpose,
                reveal=bool(found.params.get("reveal")),
                reason=str(found.params.get("reason", "")),
                approval=found,
            )
            return redirect("assistance:roster_export_detail", roster.pk)
        job = start_household_export(user, found.region, purpose, approval=found)
        return redirect("analytics:export_status", pk=job.pk)
    except (actions.PrivacyError, AssistanceError) as exc:
        messages.error(request, str(exc))
        return redirect("privacy:export_request_detail", found.pk)
