"""The JSON API of assistance (staff, session-authenticated; OpenAPI at /api/v1/docs): the toolbox, plans,
measures and follow-up visits, through the same actions and guards as the pages (409 for a stale version)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.security import django_auth

from fangpin.accounts import scope
from fangpin.accounts.decorators import api_user
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.assistance import actions
from fangpin.assistance.models import AssistancePlan, Measure, MeasureType
from fangpin.cases.models import Case
from fangpin.kernel import ActionError
from fangpin.registry.models import Person

router = Router(tags=["帮扶措施 assistance"], auth=django_auth)


class MeasureTypeOut(Schema):
    id: int
    county: str
    code: str
    category: str
    category_label: str
    name: str
    risk_types: list[str]
    categories: list[str]
    labour: str
    per_person: bool
    eligibility: str
    amount: Decimal | None
    standard: str
    department: str
    continues_after_elimination: bool
    active: bool


class MeasureOut(Schema):
    id: int
    code: str
    name: str
    person_id: int | None
    start_date: dt.date
    end_date: dt.date | None
    amount: Decimal | None
    responsible: str
    status: str
    effect: str
    income_gained: Decimal | None
    lead_id: int | None
    version: int


class VisitOut(Schema):
    id: int
    visited_on: dt.date
    visitor: str
    findings: str
    income_per_capita: Decimal | None
    secured: bool


class SuggestionOut(Schema):
    measure_type_id: int
    code: str
    name: str
    score: float
    reason: str


class PlanOut(Schema):
    id: int
    case_id: int
    household_no: str
    village: str
    category: str
    risk_types: list[str]
    responsible: str
    summary: str
    measures: list[MeasureOut]
    visits: list[VisitOut]
    suggestions: list[SuggestionOut]
    prompts: list[int] = Field(description="待处理的动态调整提示（线索编号）")


class Problem(Schema):
    detail: str


class PlanIn(Schema):
    responsible_id: int | None = None
    summary: str = ""


class MeasureIn(Schema):
    measure_type_id: int
    start_date: dt.date
    person_id: int | None = None
    end_date: dt.date | None = None
    amount: Decimal | None = None
    responsible_id: int | None = None
    note: str = ""


class MeasureUpdateIn(Schema):
    version: int = Field(..., description="您看到的措施版本（乐观锁）")
    status: str
    effect: str = ""
    income_gained: Decimal | None = None
    end_date: dt.date | None = None


class VisitIn(Schema):
    visited_on: dt.date
    findings: str
    income_per_capita: Decimal | None = None
    food_clothing_ok: bool = True
    education_ok: bool = True
    medical_ok: bool = True
    housing_ok: bool = True
    water_ok: bool = True


def _user(request: HttpRequest, *capabilities: Can) -> User:
    user: User = api_user(request, *capabilities)
    return user


def _type_out(t: MeasureType) -> MeasureTypeOut:
    return MeasureTypeOut(
        id=t.pk,
        county=t.county_id,
        code=t.code,
        category=t.category,
        category_label=t.get_category_display(),
        name=t.name,
        risk_types=t.risk_type_list(),
        categories=t.category_list(),
        labour=t.labour,
        per_person=t.per_person,
        eligibility=t.eligibility,
        amount=t.amount,
        standard=t.standard,
        department=t.department,
        continues_after_elimination=t.continues_after_elimination,
        active=t.active,
    )


def _measure_out(m: Measure) -> MeasureOut:
    return MeasureOut(
        id=m.pk,
        code=m.measure_type.code,
        name=m.measure_type.name,
        person_id=m.person_id,
        start_date=m.start_date,
        end_date=m.end_date,
        amount=m.amount,
        responsible=str(m.responsible or ""),
        status=m.status,
        effect=m.effect,
        income_gained=m.income_gained,
        lead_id=m.lead_id,
        version=m.version,
    )


def _plan_out(plan: AssistancePlan) -> PlanOut:
    case = plan.case
    return PlanOut(
        id=plan.pk,
        case_id=case.pk,
        household_no=plan.household.household_no,
        village=plan.village.name,
        category=case.category,
        risk_types=case.risk_type_list(),
        responsible=str(plan.responsible or ""),
        summary=plan.summary,
        measures=[_measure_out(m) for m in plan.measures.select_related("measure_type", "responsible")],
        visits=[
            VisitOut(
                id=v.pk,
                visited_on=v.visited_on,
                visitor=str(v.visitor),
                findings=v.findings,
                income_per_capita=v.income_per_capita,
                secured=v.secured,
            )
            for v in plan.visits.select_related("visitor")
        ],
        suggestions=[
            SuggestionOut(measure_type_id=t.pk, code=t.code, name=t.name, score=s.score, reason=s.reason)
            for t, s in actions.suggestions(plan)
        ],
        prompts=[lead.pk for lead in actions.prompts(plan)],
    )


def _refused(exc: ActionError) -> Status[Problem]:
    return Status(409 if isinstance(exc, actions.Conflict) else 400, Problem(detail=str(exc)))


@router.get(
    "/toolbox", response=list[MeasureTypeOut], url_name="assistance_toolbox", summary="本县政策工具箱"
)
def toolbox(request: HttpRequest) -> list[MeasureTypeOut]:
    user = _user(request, Can.VIEW_LEADS, Can.MANAGE_TOOLBOX)
    return [_type_out(t) for t in scope.measure_types(user)]


@router.get("/plans/{pk}", response=PlanOut, url_name="assistance_plan", summary="帮扶计划（含推荐措施）")
def plan_detail(request: HttpRequest, pk: int) -> PlanOut:
    user = _user(request, Can.VIEW_LEADS)
    return _plan_out(scope.get_or_404(user, AssistancePlan, pk=pk))


@router.post(
    "/cases/{case_id}/plan",
    response={200: PlanOut, 400: Problem},
    url_name="assistance_plan_create",
    summary="为已纳入监测的农户建立帮扶计划",
)
def plan_create(request: HttpRequest, case_id: int, body: PlanIn) -> Any:
    user = _user(request, Can.MANAGE_ASSISTANCE)
    case = scope.get_or_404(user, Case, pk=case_id)
    responsible = User.objects.filter(pk=body.responsible_id).first() if body.responsible_id else None
    try:
        plan = actions.create_plan(case, actor=user, responsible=responsible, summary=body.summary)
    except actions.AssistanceError as exc:
        return _refused(exc)
    return _plan_out(plan)


@router.post(
    "/plans/{pk}/measures",
    response={200: MeasureOut, 400: Problem},
    url_name="assistance_measure_add",
    summary="添加帮扶措施",
)
def measure_add(request: HttpRequest, pk: int, body: MeasureIn) -> Any:
    user = _user(request, Can.MANAGE_ASSISTANCE)
    plan = scope.get_or_404(user, AssistancePlan, pk=pk)
    measure_type = MeasureType.objects.filter(pk=body.measure_type_id).first()
    if measure_type is None:
        return Status(400, Problem(detail="没有这项措施"))
    try:
        measure = actions.add_measure(
            plan,
            actor=user,
            measure_type=measure_type,
            start_date=body.start_date,
            person=Person.objects.filter(pk=body.person_id).first() if body.person_id else None,
            end_date=body.end_date,
            amount=body.amount,
            responsible=User.objects.filter(pk=body.responsible_id).first() if body.responsible_id else None,
            note=body.note,
        )
    except actions.AssistanceError as exc:
        return _refused(exc)
    return _measure_out(measure)


@router.post(
    "/measures/{pk}",
    response={200: MeasureOut, 400: Problem, 409: Problem},
    url_name="assistance_measure_update",
    summary="登记措施进展与成效",
)
def measure_update(request: HttpRequest, pk: int, body: MeasureUpdateIn) -> Any:
    user = _user(request, Can.MANAGE_ASSISTANCE)
    measure = scope.get_or_404(user, Measure, pk=pk)
    try:
        updated = actions.update_measure(
            measure,
            actor=user,
            expected_version=body.version,
            status=body.status,
            effect=body.effect,
            income_gained=body.income_gained,
            end_date=body.end_date,
        )
    except ActionError as exc:  # an AssistanceError, or a Conflict (409)
        return _refused(exc)
    return _measure_out(updated)


@router.post(
    "/plans/{pk}/visits",
    response={200: VisitOut, 400: Problem},
    url_name="assistance_visit_add",
    summary="登记帮扶回访",
)
def visit_add(request: HttpRequest, pk: int, body: VisitIn) -> Any:
    user = _user(request, Can.MANAGE_ASSISTANCE, Can.VERIFY_HOUSEHOLD)
    plan = scope.get_or_404(user, AssistancePlan, pk=pk)
    try:
        visit = actions.record_visit(plan, actor=user, **body.dict())
    except actions.AssistanceError as exc:
        return _refused(exc)
    return VisitOut(
        id=visit.pk,
        visited_on=visit.visited_on,
        visitor=str(visit.visitor),
        findings=visit.findings,
        income_per_capita=visit.income_per_capita,
        secured=visit.secured,
    )


class DiscrepancyOut(Schema):
    id: int
    household_no: str
    village: str
    kind: str
    kind_label: str
    roster_status: str
    fangpin_status: str
    first_period: str
    last_period: str
    status: str
    note: str
    version: int


@router.get(
    "/reconciliation",
    response=list[DiscrepancyOut],
    url_name="assistance_reconciliation",
    summary="名册核对差异（农业农村部门名册与本系统案件）",
)
def reconciliation(request: HttpRequest, status: str = "open") -> list[DiscrepancyOut]:
    user = _user(request, Can.VIEW_LEADS)
    items = scope.discrepancies(user).select_related("household").filter(status=status)
    return [
        DiscrepancyOut(
            id=d.pk,
            household_no=d.household.household_no,
            village=d.village_id,
            kind=d.kind,
            kind_label=d.get_kind_display(),
            roster_status=d.roster_status,
            fangpin_status=d.fangpin_status,
            first_period=d.first_period,
            last_period=d.last_period,
            status=d.status,
            note=d.note,
            version=d.version,
        )
        for d in items[:5000]
    ]
