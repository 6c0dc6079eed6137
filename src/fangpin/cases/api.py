"""The JSON API of cases (staff, session-authenticated; documented by OpenAPI at /api/v1/docs).

The same actions as the web pages: each step validated by the same form, the same guards, the same
conflict answer (409) for a stale version.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.security import django_auth

from fangpin.accounts import scope
from fangpin.accounts.decorators import api_user
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.cases import actions, deadlines
from fangpin.cases.models import Case
from fangpin.cases.transitions import DECIDED_STATES, STATE_LABELS, State, available
from fangpin.warnings.models import Lead

router = Router(tags=["监测识别 cases"], auth=django_auth)


class StepOut(Schema):
    action: str
    from_state: str
    to_state: str
    level: str
    actor: str
    at: dt.datetime
    note: str


class CaseOut(Schema):
    id: int
    kind: str
    household_no: str
    village: str
    lead_id: int | None
    state: str
    state_label: str
    return_to: str
    category: str
    risk_types: list[str]
    green_channel: bool
    monitored_at: dt.datetime | None
    assignee: str
    found_at: dt.datetime
    deadline_at: dt.datetime
    decided_at: dt.datetime | None
    days_left: int
    overdue: bool
    version: int
    available_actions: list[str] = Field(default_factory=list, description="您当前可办理的操作")
    steps: list[StepOut] = Field(default_factory=list)


class Problem(Schema):
    detail: str


class OpenIn(Schema):
    lead_id: int
    assignee_id: int
    green_channel: bool = False
    category: str = ""
    risk_types: list[str] = Field(default_factory=list)
    reason: str = ""


class ActionIn(Schema):
    version: int = Field(..., description="您看到的案件版本（乐观锁）")
    data: dict[str, Any] = Field(default_factory=dict, description="该环节表单的字段，同网页表单")
    authorization_base64: str = Field("", description="入户核实：签字的承诺授权书（JPG/PNG/PDF，base64）")
    authorization_name: str = ""


def _user(request: HttpRequest, capability: Can = Can.VIEW_LEADS) -> User:
    user: User = api_user(request, capability)
    return user


def _out(case: Case, user: User, *, steps: bool = False) -> CaseOut:
    now = timezone.now()
    clock = deadlines.clock(case, now)
    possible = available(actions.case_view(case), actions.actor_for(case, user), now=now)
    return CaseOut(
        id=case.pk,
        kind=case.kind,
        household_no=case.household.household_no,
        village=case.village.name,
        lead_id=case.lead_id,
        state=case.state,
        state_label=STATE_LABELS[case.state],
        return_to=case.return_to,
        category=case.category,
        risk_types=case.risk_type_list(),
        green_channel=case.green_channel,
        monitored_at=case.monitored_at,
        assignee=(case.assignee.full_name or case.assignee.username) if case.assignee else "",
        found_at=case.found_at,
        deadline_at=case.deadline_at,
        decided_at=case.decided_at,
        days_left=clock.days_left,
        overdue=clock.overdue,
        version=case.version,
        available_actions=[t.action for t in possible],
        steps=[
            StepOut(
                action=s.action,
                from_state=s.from_state,
                to_state=s.to_state,
                level=s.level,
                actor=(s.actor.full_name or s.actor.username) if s.actor else "系统",
                at=s.at,
                note=s.note,
            )
            for s in case.steps.select_related("actor")
        ]
        if steps
        else [],
    )


@router.get("/", response=list[CaseOut], url_name="cases_list", summary="案件列表（本辖区）")
def list_cases(
    request: HttpRequest, state: str = "", kind: str = "", overdue: bool = False, limit: int = 200
) -> list[CaseOut]:
    user = _user(request)
    cases = scope.cases(user).select_related("village", "household", "assignee")
    if state:
        cases = cases.filter(state=state)
    if kind:
        cases = cases.filter(kind=kind)
    if overdue:
        cases = deadlines.overdue(cases)
    return [_out(c, user) for c in cases.order_by("deadline_at", "pk")[: max(1, min(limit, 1000))]]


@router.get("/tasks", response=list[CaseOut], url_name="cases_tasks", summary="我的任务")
def my_tasks(request: HttpRequest) -> list[CaseOut]:
    user = _user(request)
    open_states = [str(s) for s in State if s not in DECIDED_STATES]
    found = []
    for case in (
        scope.cases(user).filter(state__in=open_states).select_related("village", "household", "assignee")
    ):
        if case.state == State.VERIFYING and case.assignee_id != user.pk:
            continue
        out = _out(case, user)
        if [a for a in out.available_actions if a not in ("record_objection", "green_channel")]:
            found.append(out)
    return sorted(found, key=lambda c: c.deadline_at)


@router.get("/{int:pk}", response=CaseOut, url_name="cases_detail", summary="案件详情与办理记录")
def case_detail(request: HttpRequest, pk: int) -> CaseOut:
    user = _user(request)
    return _out(scope.get_or_404(user, Case, pk=pk), user, steps=True)


@router.post(
    "/{int:pk}/actions/{action}",
    response={200: CaseOut, 400: Problem, 409: Problem},
    url_name="cases_act",
    summary="办理一个环节",
)
def act(request: HttpRequest, pk: int, action: str, body: ActionIn) -> Status[Any]:
    user = _user(request)
    case = scope.get_or_404(user, Case, pk=pk)
    files = {}
    if body.authorization_base64:
        try:
            content = base64.b64decode(body.authorization_base64, validate=True)
        except (binascii.Error, ValueError):
            return Status(400, Problem(detail="承诺授权书不是有效的 base64 内容"))
        files["authorization"] = SimpleUploadedFile(body.authorization_name or "authorization", content)
    try:
        case = actions.submit(
            case, action, actor=user, payload={**body.data, "version": body.version}, files=files
        )
    except actions.Conflict as exc:
        return Status(409, Problem(detail=str(exc)))
    except (actions.CaseError, actions.Refused, KeyError) as exc:
        return Status(400, Problem(detail=str(exc)))
    return Status(200, _out(case, user, steps=True))


@router.post("/open", response={200: CaseOut, 400: Problem}, url_name="cases_open", summary="线索立案并派发")
def open_case(request: HttpRequest, body: OpenIn) -> Status[Any]:
    user = _user(request, Can.DISPATCH_LEADS)
    lead = scope.get_or_404(user, Lead, pk=body.lead_id)
    assignee = actions.assignees_for(str(lead.village_id)).filter(pk=body.assignee_id).first()
    if assignee is None:
        return Status(400, Problem(detail="核实责任人须为该村（或其网格）的网格员或村干部"))
    try:
        case = actions.open_case(
            lead,
            actor=user,
            assignee=assignee,
            green_channel=body.green_channel,
            category=body.category,
            risk_types=body.risk_types or None,
            reason=body.reason,
        )
    except (actions.CaseError, actions.Refused) as exc:
        return Status(400, Problem(detail=str(exc)))
    return Status(200, _out(case, user, steps=True))
