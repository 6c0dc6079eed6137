from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases import actions, deadlines, integrity, monitoring
from fangpin.cases.forms import DeadlineRuleForm, OpenCaseForm, form_class
from fangpin.cases.models import Case
from fangpin.cases.transitions import (
    DECIDED_STATES,
    KIND_LABELS,
    PUBLICITY_DAYS,
    STATE_LABELS,
    Kind,
    State,
    available,
    publicity_ends_at,
)
from fangpin.lib.risks import RISK_TYPES
from fangpin.registry.models import Membership
from fangpin.warnings.models import Lead

OPEN_STATES = [str(s) for s in State if s not in DECIDED_STATES]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _rows(cases: Any) -> list[tuple[Case, deadlines.Clock]]:
    now = timezone.now()
    return [(c, deadlines.clock(c, now)) for c in cases]


@requires(Can.VIEW_LEADS)
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    """监测识别: the cases of the user's region; `?overdue=1` is the overdue list of this level."""
    user = _user(request)
    cases = scope.cases(user).select_related("village", "household", "assignee")
    state = request.GET.get("state", "")
    kind = request.GET.get("kind", "")
    overdue = request.GET.get("overdue") == "1"
    if state in STATE_LABELS:
        cases = cases.filter(state=state)
    elif state == "open":
        cases = cases.filter(state__in=OPEN_STATES)
    if kind in KIND_LABELS:
        cases = cases.filter(kind=kind)
    if overdue:
        cases = deadlines.overdue(cases)
    page = Paginator(cases.order_by("deadline_at", "pk"), 50).get_page(request.GET.get("page"))
    counts = {
        "open": deadlines.running(scope.cases(user)).count(),
        "overdue": deadlines.overdue(scope.cases(user)).count(),
        "monitored": monitoring.monitored(scope.cases(user)).count(),
    }
    context = {
        "page": page,
        "rows": _rows(page),
        "state": state,
        "kind": kind,
        "overdue": overdue,
        "states": STATE_LABELS,
        "kinds": KIND_LABELS,
        "counts": counts,
    }
    return render(request, "cases/case_list.html", context)


@requires(Can.VIEW_LEADS)
@require_GET
def my_tasks(request: HttpRequest) -> HttpResponse:
    """我的任务 (phone first): the cases waiting for this person, nearest deadline first."""
    user = _user(request)
    now = timezone.now()
    candidates = (
        scope.cases(user)
        .filter(state__in=[str(s) for s in State if s not in DECIDED_STATES | {State.COMPARING}])
        # a visit (first or redone) is the assignee's task; the review steps belong to whoever holds the level
        .filter(
            Q(assignee=user)
            | ~(Q(state=State.VERIFYING) | Q(state=State.RETURNED, return_to=State.VERIFYING))
        )
        .select_related("village", "household", "lead")
        .order_by("deadline_at", "pk")[:300]
    )
    tasks = []
    for case in candidates:
        steps = available(actions.case_view(case), actions.actor_for(case, user), now=now)
        steps = [s for s in steps if s.action not in ("record_objection", "green_channel")]
        if steps:
            tasks.append((case, deadlines.clock(case, now), steps[0]))
    heads = _heads([c.household_id for c, _, _ in tasks])
    return render(request, "cases/my_tasks.html", {"tasks": tasks, "heads": heads})


def _heads(household_ids: list[int]) -> dict[int, Any]:
    rows = Membership.objects.filter(
        household_id__in=household_ids, end_date__isnull=True, relation="01"
    ).select_related("person")
    return {m.household_id: m.person for m in rows}


def _detail_context(request: HttpRequest, case: Case, forms: dict[str, Any] | None = None) -> dict[str, Any]:
    user = _user(request)
    now = timezone.now()
    view = actions.case_view(case)
    steps = available(view, actions.actor_for(case, user), now=now)
    bound = forms or {}
    action_forms = []
    for step in steps:
        form = bound.get(step.action) or form_class(step.action, case.kind)(
            initial=_initial(case, step.action)
        )
        action_forms.append((step, form))
    members = Membership.objects.filter(household=case.household, end_date__isnull=True).select_related(
        "person"
    )
    publicity_end = publicity_ends_at(case.publicity_started_at) if case.publicity_started_at else None
    rule = deadlines.rule_for(str(case.village_id))
    case_steps = list(case.steps.select_related("actor").all())
    return {
        "case": case,
        "unsealed": integrity.broken(case_steps),  # CRY-03: a decision altered in the database
        "clock": deadlines.clock(case, now),
        "rule": rule,
        "provisional": deadlines.provisional_notice(deadlines.case_provisional_years(case, rule)),
        "steps": case_steps,
        "action_forms": action_forms,
        "members": members,
        "state_label": STATE_LABELS[case.state],
        "return_label": STATE_LABELS.get(case.return_to, ""),
        "risk_names": [RISK_TYPES.get(t, t) for t in case.risk_type_list()],
        "publicity_end": publicity_end,
        "publicity_open": publicity_end is not None and case.state == State.PUBLICITY and now < publicity_end,
        "is_elimination": case.kind == Kind.ELIMINATION,
        "assignees": actions.assignees_for(str(case.village_id)) if user.can(Can.DISPATCH_LEADS) else None,
        "can_eliminate": (
            user.can(Can.DISPATCH_LEADS)
            and case.kind == Kind.IDENTIFICATION
            and monitoring.monitored(Case.objects.filter(pk=case.pk)).exists()
            and not case.eliminations.filter(state__in=OPEN_STATES).exists()
        ),
    }


def _initial(case: Case, action: str) -> dict[str, Any]:
    initial: dict[str, Any] = {"version": case.version}
    if action == "submit_visit":
        members = Membership.objects.filter(household=case.household, end_date__isnull=True).count()
        initial.update({"members": members or 1, "risk_types": case.risk_type_list(), **case.visit})
    if action in ("county_approve", "green_channel"):
        initial.update({"category": case.category, "risk_types": case.risk_type_list()})
    return initial


@requires(Can.VIEW_LEADS)
@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = scope.get_or_404(_user(request), Case, pk=pk)
    return render(request, "cases/case_detail.html", _detail_context(request, case))


@requires(Can.VERIFY_HOUSEHOLD, Can.VILLAGE_REVIEW, Can.TOWNSHIP_REVIEW, Can.COUNTY_APPROVE)
@require_POST
def case_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Take one step of the procedure (the form of that step)."""
    user = _user(request)
    case = scope.get_or_404(user, Case, pk=pk)
    if action not in _actions():
        raise Http404("未知的操作")
    form = form_class(action, case.kind)(request.POST, request.FILES, actor=user)
    if not form.is_valid():
        context = _detail_context(request, case, {action: form})
        context["error"] = "表单有误，请检查后重新提交"
        return render(request, "cases/case_detail.html", context, status=400)
    try:
        case = actions.transition(
            case, action, actor=user, expected_version=form.cleaned_data["version"], form=form
        )
    except actions.Conflict as exc:
        context = _detail_context(request, scope.get_or_404(user, Case, pk=pk))
        context["error"] = str(exc)
        return render(request, "cases/case_detail.html", context, status=409)
    except (actions.CaseError, actions.Refused) as exc:
        context = _detail_context(request, case, {action: form})
        context["error"] = str(exc)
        return render(request, "cases/case_detail.html", context, status=400)
    messages.success(request, f"已办理：{STATE_LABELS[case.state]}")
    if request.POST.get("next") == "tasks":
        return redirect("cases:my_tasks")
    return redirect("cases:case_detail", pk=case.pk)


def _actions() -> list[str]:
    from fangpin.cases.transitions import TRANSITIONS

    return [a for a in TRANSITIONS if a != "compare"]


@requires(Can.DISPATCH_LEADS)
@require_POST
def case_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Dispatch a lead: open its case and assign the grid worker / village cadre."""
    user = _user(request)
    lead = scope.get_or_404(user, Lead, pk=pk)
    form = OpenCaseForm(request.POST, assignees=actions.assignees_for(str(lead.village_id)))
    if not form.is_valid():
        messages.error(request, "请选择该村的网格员或村干部作为核实责任人")
        return redirect(_lead_url(lead))
    try:
        case = actions.open_case(
            lead,
            actor=user,
            assignee=form.cleaned_data["assignee"],
            green_channel=form.cleaned_data["green_channel"],
            reason="派发时选择绿色通道" if form.cleaned_data["green_channel"] else "",
        )
    except (actions.CaseError, actions.Refused) as exc:
        messages.error(request, str(exc))
        return redirect(_lead_url(lead))
    messages.success(request, "已立案并派发")
    return redirect("cases:case_detail", pk=case.pk)


def _lead_url(lead: Lead) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("warnings:lead_detail", kwargs={"pk": lead.pk})
    except NoReverseMatch:
        return reverse("cases:case_list")


@requires(Can.DISPATCH_LEADS)
@require_POST
def case_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    case = scope.get_or_404(user, Case, pk=pk)
    form = OpenCaseForm(request.POST, assignees=actions.assignees_for(str(case.village_id)))
    version = request.POST.get("version", "")
    if not form.is_valid() or not version.isdigit():
        messages.error(request, "请选择该村的网格员或村干部")
        return redirect("cases:case_detail", pk=case.pk)
    try:
        actions.reassign(
            case, actor=user, assignee=form.cleaned_data["assignee"], expected_version=int(version)
        )
        messages.success(request, "已改派")
    except (actions.CaseError, actions.Conflict, actions.Refused) as exc:
        messages.error(request, str(exc))
    return redirect("cases:case_detail", pk=case.pk)


@requires(Can.DISPATCH_LEADS)
@require_POST
def case_eliminate(request: HttpRequest, pk: int) -> HttpResponse:
    """Start risk elimination for a monitored household."""
    user = _user(request)
    case = scope.get_or_404(user, Case, pk=pk)
    form = OpenCaseForm(request.POST, assignees=actions.assignees_for(str(case.village_id)))
    if not form.is_valid():
        messages.error(request, "请选择该村的网格员或村干部")
        return redirect("cases:case_detail", pk=case.pk)
    try:
        new = actions.open_elimination(case, actor=user, assignee=form.cleaned_data["assignee"])
    except (actions.CaseError, actions.Refused) as exc:
        messages.error(request, str(exc))
        return redirect("cases:case_detail", pk=case.pk)
    messages.success(request, "已启动风险消除")
    return redirect("cases:case_detail", pk=new.pk)


@requires(Can.VIEW_LEADS)
@require_GET
def case_notice(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable village notice (公示): never an ID number, phone, bank account or health detail —
    so it names the category, not the risk types (因病/因残 would disclose health)."""
    user = _user(request)
    case = scope.get_or_404(user, Case, pk=pk)
    if case.publicity_started_at is None:
        raise Http404("该案件尚未进入公示")
    head = _heads([case.household_id]).get(case.household_id)
    members = Membership.objects.filter(household=case.household, end_date__isnull=True).count()
    record(Event.CASE_NOTICE_PRINTED, actor=user, object_type="case", object_id=case.pk)
    context = {
        "case": case,
        "head": head,
        "members": members,
        "start": case.publicity_started_at,
        "end": publicity_ends_at(case.publicity_started_at),
        "days": PUBLICITY_DAYS,
        "township": case.village.parent.name if case.village.parent else "",
        "category": case.get_category_display(),
    }
    return render(request, "cases/notice.html", context)


@requires(Can.VIEW_LEADS)
@require_GET
def case_authorization(request: HttpRequest, pk: int) -> HttpResponse:
    """The household's signed authorisation (latest visit), for people who may see the case (audited).
    Always a download (FILE-02): a browser never renders an uploaded file in the application's origin."""
    user = _user(request)
    case = scope.get_or_404(user, Case, pk=pk)
    step = case.steps.exclude(attachment="").exclude(attachment__isnull=True).order_by("-at", "-id").first()
    if step is None:
        messages.info(request, "该案件没有上传承诺授权书")
        return redirect("cases:case_detail", pk=case.pk)
    record(
        Event.CASE_ATTACHMENT_VIEWED,
        actor=user,
        object_type="case",
        object_id=case.pk,
        data={"step": step.pk},
    )
    with step.attachment.open("rb") as handle:  # at most 10 MB (uploads.MAX_BYTES)
        content = handle.read()
    response = HttpResponse(content, content_type=step.attachment_type or "application/octet-stream")
    suffix = PurePosixPath(step.attachment.name or "").suffix
    # a fixed name (RFC 5987 filename*): the uploader's own file name may carry a person's name
    response["Content-Disposition"] = content_disposition_header(True, f"承诺授权书-案件{case.pk}{suffix}")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


@requires(Can.MANAGE_TOOLBOX)
@require_http_methods(["GET", "POST"])
def deadline_settings(request: HttpRequest) -> HttpResponse:
    """The county's time limit (townships and villages inherit it)."""
    user = _user(request)
    region_id = str(user.region_id)
    current = deadlines.rule_for(region_id)
    form = DeadlineRuleForm(
        request.POST or None,
        initial={
            "days": current.days,
            "working_days": current.working_days,
            "escalate_days_before": current.escalate_days_before,
        },
    )
    if request.method == "POST" and form.is_valid():
        deadlines.set_rule(region_id, actor=user, **form.cleaned_data)
        messages.success(request, "已保存；新立案件按新时限计算")
        return redirect("cases:deadline_settings")
    today = timezone.localdate()
    ahead = today + dt.timedelta(days=deadlines.SETTINGS_LOOKAHEAD_DAYS)
    provisional = deadlines.provisional_notice(deadlines.unknown_years(today, ahead))
    context = {"form": form, "current": current, "provisional": provisional}
    return render(request, "cases/deadline_settings.html", context)
