"""The JSON API of the lead queue (staff, session-authenticated; OpenAPI at /api/v1/docs).

The same actions as the web pages, the same role and scope checks; personal data masked as on the pages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import django_auth

from fangpin.accounts import scope
from fangpin.accounts.decorators import api_user
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.lib.masking import mask_name
from fangpin.lib.risks import RISK_TYPES
from fangpin.warnings import actions, portrait_info
from fangpin.warnings.models import OPEN_STATUSES, Lead, LeadStatus
from fangpin.warnings.templatetags.leads import mask_household_no
from fangpin.warnings.views import GRADE_ORDER

router = Router(tags=["预警线索 leads"], auth=django_auth)


class SnapshotItem(Schema):
    column: str
    label: str
    value: Any
    display: str


class LeadOut(Schema):
    id: int
    household_no: str = Field(..., description="户编号（脱敏）")
    household_id: int | None
    head: str = Field("", description="户主姓名（脱敏）")
    village: str
    village_code: str
    channel: str
    kind: str
    status: str
    status_label: str
    period: str
    risk_types: list[str]
    risk_labels: list[str]
    category: str
    grade: str
    score: float
    reasons: str
    explanation: str
    rules: list[str]
    policy_id: str
    policy_hash: str
    model_version: str
    accept_deadline: dt.datetime | None
    overdue: bool
    merged_into: int | None
    outcome: str
    version: int
    created_at: dt.datetime
    portrait: list[SnapshotItem] = Field(default_factory=list, description="预警时系统掌握的画像数据")
    datasets: list[str] = Field(default_factory=list)
    provenance: list[dict[str, Any]] = Field(default_factory=list)


class Problem(Schema):
    detail: str


class VersionIn(Schema):
    version: int = Field(..., description="您看到的线索版本（乐观锁）")


class RejectIn(VersionIn):
    reason: str = Field(..., min_length=4, max_length=1000, description="不予受理理由")


class ReportIn(Schema):
    household_no: str
    risk_types: list[str] = Field(..., min_length=1, max_length=5)
    note: str = Field(..., min_length=4, max_length=1000)


def _user(request: HttpRequest, capability: Can = Can.VIEW_LEADS) -> User:
    user: User = api_user(request, capability)
    return user


def _out(lead: Lead, *, full: bool = False) -> LeadOut:
    head = lead.household.head() if (full and lead.household) else None
    overdue = (
        lead.status == LeadStatus.NEW
        and lead.accept_deadline is not None
        and lead.accept_deadline < timezone.now()
    )
    return LeadOut(
        id=lead.pk,
        household_no=mask_household_no(lead.household.household_no) if lead.household else "",
        household_id=lead.household_id,
        head=mask_name(head.name) if head else "",
        village=lead.village.name,
        village_code=lead.village_id,
        channel=lead.channel,
        kind=lead.kind,
        status=lead.status,
        status_label=lead.get_status_display(),
        period=lead.period,
        risk_types=lead.risk_type_list(),
        risk_labels=[RISK_TYPES.get(t, t) for t in lead.risk_type_list()],
        category=lead.category,
        grade=lead.grade,
        score=lead.score,
        reasons=lead.reasons,
        explanation=lead.explanation,
        rules=[r for r in lead.rules.split(";") if r],
        policy_id=lead.policy_id,
        policy_hash=lead.policy_hash,
        model_version=lead.model_version,
        accept_deadline=lead.accept_deadline,
        overdue=overdue,
        merged_into=lead.merged_into_id,
        outcome=lead.outcome,
        version=lead.version,
        created_at=lead.created_at,
        portrait=[
            SnapshotItem(column=k, label=portrait_info.label(k), value=v, display=portrait_info.display(v))
            for k, v in (lead.portrait_snapshot or {}).items()
        ]
        if full
        else [],
        datasets=list(lead.datasets or []),
        # the declarant and reporter are named on the page only (masked there too); the API keeps channels
        provenance=[{k: v for k, v in p.items() if k not in ("reporter",)} for p in (lead.provenance or [])]
        if full
        else [],
    )


@router.get("/", response=list[LeadOut], url_name="leads_list", summary="线索队列（本辖区，三个渠道）")
def list_leads(
    request: HttpRequest,
    channel: str = "",
    status: str = "open",
    kind: str = "",
    grade: str = "",
    village: str = "",
    overdue: bool = False,
    limit: int = 200,
) -> list[LeadOut]:
    user = _user(request)
    leads = scope.leads(user).select_related("household", "village")
    if status == "open":
        leads = leads.filter(status__in=OPEN_STATUSES)
    elif status:
        leads = leads.filter(status=status)
    for name, value in (("channel", channel), ("kind", kind), ("grade", grade)):
        if value:
            leads = leads.filter(**{name: value})
    if village:
        leads = leads.filter(village_id=village)
    if overdue:
        leads = leads.filter(status=LeadStatus.NEW, accept_deadline__lt=timezone.now())
    ordered = leads.annotate(grade_order=GRADE_ORDER).order_by("grade_order", "-score", "created_at", "pk")
    return [_out(lead) for lead in ordered[: max(1, min(limit, 1000))]]


@router.get(
    "/{int:pk}", response=LeadOut, url_name="leads_detail", summary="线索详情（规则、模型解释、画像快照）"
)
def lead_detail(request: HttpRequest, pk: int) -> LeadOut:
    user = _user(request)
    lead = scope.get_or_404(user, Lead, pk=pk)
    record(Event.LEAD_VIEWED, actor=user, object_type="lead", object_id=lead.pk)
    return _out(lead, full=True)


def _run(request: HttpRequest, pk: int, do: Any) -> Any:
    user = _user(request, Can.DISPATCH_LEADS)
    lead = scope.get_or_404(user, Lead, pk=pk)
    try:
        lead = do(lead, user)
    except actions.Conflict as exc:
        return Status(409, Problem(detail=str(exc)))
    except actions.LeadError as exc:
        return Status(400, Problem(detail=str(exc)))
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from exc
    return Status(200, _out(lead, full=True))


@router.post(
    "/{int:pk}/accept",
    response={200: LeadOut, 400: Problem, 409: Problem},
    url_name="leads_accept",
    summary="受理线索",
)
def accept(request: HttpRequest, pk: int, body: VersionIn) -> Any:
    return _run(
        request, pk, lambda lead, user: actions.accept_lead(lead, actor=user, expected_version=body.version)
    )


@router.post(
    "/{int:pk}/reject",
    response={200: LeadOut, 400: Problem, 409: Problem},
    url_name="leads_reject",
    summary="不予受理（须写明理由）",
)
def reject(request: HttpRequest, pk: int, body: RejectIn) -> Any:
    return _run(
        request,
        pk,
        lambda lead, user: actions.reject_lead(
            lead, actor=user, reason=body.reason, expected_version=body.version
        ),
    )


@router.post(
    "/report",
    response={200: LeadOut, 400: Problem},
    url_name="leads_report",
    summary="干部走访排查：上报线索",
)
def report(request: HttpRequest, body: ReportIn) -> Any:
    user = _user(request, Can.REPORT_LEAD)
    household = scope.households(user).filter(household_no=body.household_no.strip()).first()
    if household is None:
        return Status(400, Problem(detail="未找到该户编号，或该户不在您的管辖范围内"))
    try:
        lead = actions.report_lead(
            household=household, risk_types=body.risk_types, note=body.note, actor=user
        )
    except actions.LeadError as exc:
        return Status(400, Problem(detail=str(exc)))
    return Status(200, _out(actions.survivor(lead), full=True))
