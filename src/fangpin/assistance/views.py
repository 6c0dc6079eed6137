from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can, Role
from fangpin.assistance import actions
from fangpin.assistance.forms import (
    AdjustForm,
    MeasureForm,
    MeasureTypeForm,
    MeasureUpdateForm,
    PlanForm,
    RosterForm,
    VisitForm,
)
from fangpin.assistance.models import (
    AssistancePlan,
    Category,
    ExportStatus,
    Measure,
    MeasureStatus,
    MeasureType,
    RosterExport,
)
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases.models import Case
from fangpin.kernel import ActionError
from fangpin.lib.risks import RISK_TYPES
from fangpin.privacy import actions as privacy
from fangpin.privacy.models import ExportKind, ExportRequest
from fangpin.regions.models import Level
from fangpin.registry.models import Person
from fangpin.warnings.models import Lead, LeadKind


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _choices(form: Any, name: str, choices: list[tuple[Any, str]]) -> None:
    form.fields[name].choices = choices


def _form_error(request: HttpRequest, form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


def staff_for(village_id: str) -> list[User]:
    """Who can be a 帮扶责任人: active field staff of the village, its grids and its township."""
    return list(
        User.objects.filter(
            is_active=True, role__in=[Role.GRID_WORKER, Role.VILLAGE_CADRE, Role.TOWNSHIP_REVIEWER]
        )
        .filter(Q(region_id__in=[village_id[:9], village_id]) | Q(region__prefix__startswith=village_id))
        .order_by("role", "username")
    )


# --- toolbox ---------------------------------------------------------------------------------------


@requires(Can.VIEW_LEADS, Can.MANAGE_TOOLBOX)
@require_GET
def toolbox(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    types = scope.measure_types(user).select_related("county").annotate(used=Count("measures"))
    groups: dict[str, list[MeasureType]] = {}
    for t in types:
        groups.setdefault(t.get_category_display(), []).append(t)
    can_edit = user.can(Can.MANAGE_TOOLBOX) and user.region.level == Level.COUNTY
    return render(
        request, "assistance/toolbox.html", {"groups": groups, "can_edit": can_edit, "count": len(types)}
    )


@requires(Can.MANAGE_TOOLBOX)
@require_POST
def toolbox_seed(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    if user.region.level != Level.COUNTY:
        messages.error(request, "政策工具箱由县级维护")
        return redirect("assistance:toolbox")
    created = actions.seed_toolbox(user.region, actor=user)
    messages.success(request, f"已载入默认政策工具箱：新增 {created} 项（已有的同编号措施保持不变）")
    return redirect("assistance:toolbox")


def _measure_type_form(request: HttpRequest, instance: MeasureType | None) -> HttpResponse:
    user = _me(request)
    if request.method == "POST":
        form = MeasureTypeForm(request.POST)
        if form.is_valid():
            try:
                saved = actions.save_measure_type(
                    user.region,
                    form.values(),
                    actor=user,
                    instance=instance,
                    expected_version=form.cleaned_data.get("version"),
                )
            except ActionError as exc:  # an AssistanceError, or a Conflict
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"已保存：{saved.code} {saved.name}")
                return redirect("assistance:toolbox")
        status = 400
    else:
        initial: dict[str, Any] = {"labour": "any", "priority": 50, "active": True}
        if instance is not None:
            initial = {f: getattr(instance, f) for f in actions.MEASURE_TYPE_FIELDS}
            initial.update(
                code=instance.code,
                risk_types=instance.risk_type_list(),
                categories=instance.category_list(),
                version=instance.version,
            )
        form = MeasureTypeForm(initial=initial)
        status = 200
    if instance is not None:
        form.fields["code"].disabled = True
    return render(
        request, "assistance/measure_type_form.html", {"form": form, "instance": instance}, status=status
    )


@requires(Can.MANAGE_TOOLBOX)
@require_http_methods(["GET", "POST"])
def measure_type_create(request: HttpRequest) -> HttpResponse:
    if _me(request).region.level != Level.COUNTY:
        messages.error(request, "政策工具箱由县级维护")
        return redirect("assistance:toolbox")
    return _measure_type_form(request, None)


@requires(Can.MANAGE_TOOLBOX)
@require_http_methods(["GET", "POST"])
def measure_type_edit(request: HttpRequest, pk: int) -> HttpResponse:
    instance = scope.get_or_404(_me(request), MeasureType, pk=pk)
    if _me(request).region.level != Level.COUNTY:
        messages.error(request, "政策工具箱由县级维护")
        return redirect("assistance:toolbox")
    return _measure_type_form(request, instance)


# --- plans -----------------------------------------------------------------------------------------


@requires(Can.VIEW_LEADS)
@require_GET
def plan_list(request: HttpRequest) -> HttpResponse:
    """Monitored households of the region with their plan (or the lack of one) and open prompts."""
    from fangpin.cases.monitoring import monitored

    user = _me(request)
    cases = (
        monitored(scope.cases(user))
        .select_related("household", "village", "plan", "plan__responsible")
        .annotate(
            open_measures=Count("plan__measures", filter=Q(plan__measures__status__in=["planned", "active"]))
        )
        .order_by("village_id", "household__household_no")
    )
    show = request.GET.get("show", "")
    if show == "no_plan":
        cases = cases.filter(plan__isnull=True)
    prompted = set(
        scope.leads(user)
        .filter(kind__in=[LeadKind.ADJUST, LeadKind.ELIMINATION], status__in=actions.OPEN_PROMPT)
        .values_list("household_id", flat=True)
    )
    if show == "prompted":
        cases = cases.filter(household_id__in=prompted)
    page = Paginator(cases, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "assistance/plan_list.html",
        {"page": page, "prompted": prompted, "show": show, "can_manage": user.can(Can.MANAGE_ASSISTANCE)},
    )


@requires(Can.MANAGE_ASSISTANCE)
@require_POST
def plan_start(request: HttpRequest, pk: int) -> HttpResponse:
    user = _me(request)
    case = scope.get_or_404(user, Case, pk=pk)
    form = PlanForm(request.POST)
    _choices(form, "responsible", [("", "-")] + [(u.pk, str(u)) for u in staff_for(case.village_id)])
    if not form.is_valid():
        _form_error(request, form)
        return redirect("assistance:plan_list")
    responsible = (
        User.objects.filter(pk=form.cleaned_data["responsible"]).first()
        if form.cleaned_data["responsible"]
        else None
    )
    try:
        plan = actions.create_plan(
            case, actor=user, responsible=responsible, summary=form.cleaned_data["summary"]
        )
    except actions.AssistanceError as exc:
        existing = AssistancePlan.objects.filter(case=case).first()
        messages.error(request, str(exc))
        return (
            redirect("assistance:plan_detail", existing.pk) if existing else redirect("assistance:plan_list")
        )
    messages.success(request, "已建立帮扶计划")
    return redirect("assistance:plan_detail", plan.pk)


def _plan_context(user: User, plan: AssistancePlan) -> dict[str, Any]:
    members = list(
        plan.household.memberships.filter(end_date__isnull=True).select_related("person").order_by("relation")
    )
    prompts = actions.prompts(plan)
    adjustments = [
        (
            lead,
            actions.suggestions(
                plan, actions.new_risk_types(plan, lead) or tuple(lead.risk_types.split(";"))
            ),
        )
        for lead in prompts
        if lead.kind == LeadKind.ADJUST
    ]
    eliminations = [lead for lead in prompts if lead.kind == LeadKind.ELIMINATION]
    staff = staff_for(plan.village_id)
    county_types = actions.toolbox(actions.county_of(plan.village_id)).filter(active=True)
    elimination_case = plan.case.eliminations.order_by("-opened_at").first()
    return {
        "plan": plan,
        "case": plan.case,
        "risk_names": "、".join(RISK_TYPES.get(r, r) for r in plan.case.risk_type_list()),
        "members": members,
        "measures": plan.measures.select_related("measure_type", "person", "responsible"),
        "visits": plan.visits.select_related("visitor")[:20],
        "suggestions": actions.suggestions(plan),
        "adjustments": adjustments,
        "eliminations": eliminations,
        "elimination_case": elimination_case,
        "staff": staff,
        "types_by_category": [
            (label, [t for t in county_types if t.category == value]) for value, label in Category.choices
        ],
        "measure_statuses": MeasureStatus.choices,
        "can_manage": user.can(Can.MANAGE_ASSISTANCE),
        "can_visit": user.can(Can.MANAGE_ASSISTANCE) or user.can(Can.VERIFY_HOUSEHOLD),
        "today": timezone.localdate().isoformat(),
        "measure_form": MeasureForm(),
        "visit_form": VisitForm(
            initial={
                "visited_on": timezone.localdate().isoformat(),
                **{
                    k: True
                    for k in ("food_clothing_ok", "education_ok", "medical_ok", "housing_ok", "water_ok")
                },
            }
        ),
    }


@requires(Can.VIEW_LEADS)
@require_GET
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _me(request)
    plan = scope.get_or_404(user, AssistancePlan, pk=pk)
    return render(request, "assistance/plan_detail.html", _plan_context(user, plan))


@requires(Can.MANAGE_ASSISTANCE)
@require_POST
def measure_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _me(request)
    plan = scope.get_or_404(user, AssistancePlan, pk=pk)
    form = MeasureForm(request.POST)
    _choices(
        form,
        "measure_type",
        [(t.pk, t.name) for t in actions.toolbox(actions.county_of(plan.village_id)).filter(active=True)],
    )
    members = plan.household.memberships.filter(end_date__isnull=True).values_list("person_id", flat=True)
    _choices(form, "person", [("", "全户")] + [(p, str(p)) for p in members])
    _choices(form, "responsible", [("", "-")] + [(u.pk, str(u)) for u in staff_for(plan.village_id)])
    if not form.is_valid():
        _form_error(request, form)
        return redirect("assistance:plan_detail", plan.pk)
    data = form.cleaned_data
    try:
        actions.add_measure(
            plan,
            actor=user,
            measure_type=MeasureType.objects.get(pk=data["measure_type"]),
            person=Person.objects.get(pk=data["person"]) if data["person"] else None,
            start_date=data["start_date"],
            end_date=data["end_date"],
            amount=data["amount"],
            responsible=User.objects.get(pk=data["responsible"]) if data["responsible"] else None,
            note=data["note"],
        )
    except actions.AssistanceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "已添加帮扶措施")
    return redirect("assistance:plan_detail", plan.pk)


@requires(Can.MANAGE_ASSISTANCE)
@require_POST
def measure_update(request: HttpRequest, pk: int) -> HttpResponse:
    user = _me(request)
    measure = scope.get_or_404(user, Measure, pk=pk)
    form = MeasureUpdateForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("assistance:plan_detail", measure.plan_id)
    try:
        actions.update_measure(
            measure,
            actor=user,
            expected_version=form.cleaned_data["version"],
            **{k: form.cleaned_data[k] for k in ("status", "effect", "income_gained", "end_date")},
        )
    except ActionError as exc:  # an AssistanceError, or a Conflict
        messages.error(request, str(exc))
    else:
        messages.success(request, "已更新措施进展")
    return redirect("assistance:plan_detail", measure.plan_id)


@requires(Can.MANAGE_ASSISTANCE, Can.VERIFY_HOUSEHOLD)
@require_POST
def visit_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _me(request)
    plan = scope.get_or_404(user, AssistancePlan, pk=pk)
    form = VisitForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("assistance:plan_detail", plan.pk)
    try:
        actions.record_visit(plan, actor=user, **form.cleaned_data)
    except actions.AssistanceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "已登记走访")
    return redirect("assistance:plan_detail", plan.pk)


@requires(Can.MANAGE_ASSISTANCE)
@require_POST
def plan_adjust(request: HttpRequest, pk: int) -> HttpResponse:
    """Answer a screening prompt (risk up): add the chosen measures."""
    user = _me(request)
    plan = scope.get_or_404(user, AssistancePlan, pk=pk)
    form = AdjustForm(request.POST)
    _choices(
        form,
        "measure_types",
        [(t.pk, t.name) for t in actions.toolbox(actions.county_of(plan.village_id)).filter(active=True)],
    )
    if not form.is_valid():
        _form_error(request, form)
        return redirect("assistance:plan_detail", plan.pk)
    lead = scope.get_or_404(user, Lead, pk=form.cleaned_data["lead"])
    try:
        added = actions.adjust(
            plan,
            lead,
            actor=user,
            measure_type_ids=form.cleaned_data["measure_types"],
            start_date=form.cleaned_data["start_date"],
        )
    except actions.AssistanceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"已按预警提示新增 {len(added)} 项措施，结果已反馈")
    return redirect("assistance:plan_detail", plan.pk)


# --- the roster (台账) -------------------------------------------------------------------------------


@requires(Can.EXPORT_ROSTER)
@require_GET
def roster(request: HttpRequest) -> HttpResponse:
    from fangpin.assistance.roster import roster_cases

    user = _me(request)
    return render(
        request,
        "assistance/roster.html",
        {
            "count": roster_cases(scope.cases(user)).count(),
            "form": RosterForm(),
            "can_reveal": user.can(Can.REVEAL_PI),
            "perms_county": user.can(Can.COUNTY_APPROVE),
            "exports": scope.roster_exports(user)[:20],
        },
    )


@requires(Can.EXPORT_ROSTER)
@require_POST
def roster_export(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    form = RosterForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("assistance:roster")
    try:
        purpose = privacy.purpose_from(request.POST)
        export = actions.request_roster_export(
            user, purpose=purpose, reveal=form.cleaned_data["reveal"], reason=form.cleaned_data["reason"]
        )
    except (actions.AssistanceError, privacy.PrivacyError) as exc:
        messages.error(request, str(exc))
        return redirect("assistance:roster")
    if isinstance(export, ExportRequest):
        messages.info(request, f"导出 {export.rows} 户超过审批门槛，已提交审批，批准后可生成并下载一次")
        return redirect("privacy:export_request_detail", export.pk)
    return redirect("assistance:roster_export_detail", export.pk)


@requires(Can.EXPORT_ROSTER)
@require_GET
def roster_export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    export = scope.get_or_404(_me(request), RosterExport, pk=pk)
    return _job_page(
        request, export, "export", "assistance/_export_progress.html", "assistance/roster_export.html"
    )


def _job_page(request: HttpRequest, job: Any, name: str, progress: str, page: str) -> HttpResponse:
    """A background job's page: htmx polls the progress fragment while it runs, then reloads the page."""
    running = job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)
    if request.htmx:  # type: ignore[attr-defined]
        if running:
            return render(request, progress, {name: job})
        finished = HttpResponse(status=204)
        finished["HX-Refresh"] = "true"
        return finished
    return render(request, page, {name: job, "running": running})


@requires(Can.EXPORT_ROSTER)
@require_GET
def roster_download(request: HttpRequest, pk: int) -> HttpResponse:
    user = _me(request)
    export = scope.get_or_404(user, RosterExport, pk=pk)
    path = actions.export_path(export)
    if path is None:
        messages.error(request, "文件尚未生成或已清理")
        return redirect("assistance:roster_export_detail", export.pk)
    try:
        approval = privacy.claim_download(ExportKind.ROSTER, export.pk, actor=user)
    except privacy.PrivacyError as exc:
        messages.error(request, str(exc))
        return redirect("assistance:roster_export_detail", export.pk)
    record(
        Event.ROSTER_DOWNLOADED,
        actor=user,
        object_type="roster_export",
        object_id=export.pk,
        data={"reveal": export.reveal, **({"approval": approval.pk} if approval else {})},
    )
    stamp = export.created_at.strftime("%Y%m%d")
    response = HttpResponse(
        path.read_bytes(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = content_disposition_header(
        True, f"监测对象台账-{export.region_id}-{stamp}.xlsx"
    )
    return response


# --- onboarding: the county's existing 台账, and the monthly roster reconciliation -------------------

MAX_LEDGER_BYTES = 50 * 1024 * 1024


@requires(Can.COUNTY_APPROVE)
@require_http_methods(["GET", "POST"])
def onboard(request: HttpRequest) -> HttpResponse:
    from fangpin.assistance import onboarding
    from fangpin.assistance.forms import LedgerUploadForm

    user = _me(request)
    form = LedgerUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not form.is_valid():
            _form_error(request, form)
            return redirect("assistance:onboard")
        upload = form.cleaned_data["file"]
        if upload.size > MAX_LEDGER_BYTES:
            messages.error(request, "文件超过 50 MB")
            return redirect("assistance:onboard")
        try:
            job = onboarding.request_import(upload.read(), upload.name, actor=user)
        except actions.AssistanceError as exc:
            messages.error(request, str(exc))
            return redirect("assistance:onboard")
        return redirect("assistance:onboard_detail", job.pk)
    return render(
        request, "assistance/onboard.html", {"form": form, "imports": scope.roster_imports(user)[:20]}
    )


@requires(Can.COUNTY_APPROVE)
@require_GET
def onboard_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from fangpin.assistance.models import RosterImport

    job = scope.get_or_404(_me(request), RosterImport, pk=pk)
    return _job_page(
        request, job, "job", "assistance/_onboard_progress.html", "assistance/onboard_detail.html"
    )


@requires(Can.VIEW_LEADS)
@require_http_methods(["GET", "POST"])
def reconciliation(request: HttpRequest) -> HttpResponse:
    from fangpin.assistance import reconcile
    from fangpin.assistance.forms import ReconcileForm
    from fangpin.assistance.models import Discrepancy
    from fangpin.regions.models import Region

    user = _me(request)
    if request.method == "POST":
        form = ReconcileForm(request.POST)
        county = Region.objects.filter(prefix=str(user.region_id)[:6], level=Level.COUNTY).first()
        if not user.can(Can.COUNTY_APPROVE) or county is None:
            messages.error(request, "只有县级审批员可以发起名册核对")
        elif not form.is_valid():
            _form_error(request, form)
        else:
            try:
                counts = reconcile.reconcile(county, form.cleaned_data["period"], actor=user)
                messages.success(
                    request, f"核对完成：新发现差异 {counts['new']} 户，已一致自动关闭 {counts['closed']} 户"
                )
            except actions.AssistanceError as exc:
                messages.error(request, str(exc))
        return redirect("assistance:reconciliation")
    status = request.GET.get("status", "open")
    items = scope.discrepancies(user).select_related("household", "village", "resolved_by")
    if status in Discrepancy.Status.values:
        items = items.filter(status=status)
    page = Paginator(items, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "assistance/reconciliation.html",
        {
            "page": page,
            "status": status,
            "statuses": Discrepancy.Status.choices,
            "can_resolve": user.can(Can.COUNTY_APPROVE),
            "period": timezone.localdate().strftime("%Y-%m"),
        },
    )


@requires(Can.COUNTY_APPROVE)
@require_POST
def discrepancy_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    from fangpin.assistance import reconcile
    from fangpin.assistance.forms import ResolveForm
    from fangpin.assistance.models import Discrepancy

    user = _me(request)
    item = scope.get_or_404(user, Discrepancy, pk=pk)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("assistance:reconciliation")
    try:
        reconcile.resolve(
            item, actor=user, note=form.cleaned_data["note"], expected_version=form.cleaned_data["version"]
        )
        messages.success(request, "已记录处理说明")
    except ActionError as exc:  # an AssistanceError, or a Conflict
        messages.error(request, str(exc))
    return redirect("assistance:reconciliation")
