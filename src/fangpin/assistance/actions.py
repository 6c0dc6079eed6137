"""Assistance actions: the toolbox, plans, measures, follow-up visits. Each state change is one function
here (transaction, audit row, notifications on commit); views and the API only call these."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.assistance import suggest as ranking
from fangpin.assistance.models import (
    OPEN_MEASURE_STATUSES,
    AssistancePlan,
    Category,
    ExportStatus,
    FollowUpVisit,
    Labour,
    Measure,
    MeasureStatus,
    MeasureType,
    RosterExport,
)
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases.models import Case
from fangpin.kernel import ActionError, lock, outermost
from fangpin.kernel import Conflict as Conflict  # re-exported: the views catch actions.Conflict
from fangpin.lib.risks import RISK_TYPES
from fangpin.notifications.actions import notify
from fangpin.privacy import actions as privacy
from fangpin.privacy.actions import Purpose
from fangpin.privacy.models import ExportKind, ExportRequest
from fangpin.regions.models import Level, Region
from fangpin.registry.models import Person
from fangpin.warnings.models import Lead, LeadKind, LeadStatus

DEFAULT_TOOLBOX = Path(__file__).with_name("toolbox") / "jx-default.yaml"
MEASURE_TYPE_FIELDS = (
    "category",
    "name",
    "risk_types",
    "categories",
    "labour",
    "per_person",
    "eligibility",
    "amount",
    "standard",
    "department",
    "continues_after_elimination",
    "priority",
    "active",
)


class AssistanceError(ActionError):
    """Refused or bad input: the message is shown to the user as is."""


STALE = "该措施已被他人修改，请刷新后重试"


def _require(actor: Any, capability: Can) -> None:
    if actor is None or not actor.can(capability):
        raise AssistanceError("您的角色无权进行此操作")


# --- the toolbox -----------------------------------------------------------------------------------


def _codes(values: Any, field: str, code: str) -> str:
    items = values if isinstance(values, list) else [values] if values not in (None, "") else []
    # YAML reads 06 as the number 6: codes are two digits
    return ";".join(str(v).zfill(2) if isinstance(v, int) else str(v) for v in items)


def load_toolbox(path: Path = DEFAULT_TOOLBOX) -> list[dict[str, Any]]:
    """Measure types from a toolbox YAML file, validated (a bad file is refused whole)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AssistanceError(f"政策工具箱文件无法读取：{exc}") from exc
    entries = raw.get("measures") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise AssistanceError("政策工具箱文件没有 measures 列表")
    seen: set[str] = set()
    out = []
    for item in entries:
        code = str(item.get("code", "")).strip()
        if not code or code in seen:
            raise AssistanceError(f"措施编号为空或重复：{code!r}")
        seen.add(code)
        if item.get("category") not in Category.values:
            raise AssistanceError(f"{code}：未知类别 {item.get('category')!r}")
        if item.get("labour", "any") not in Labour.values:
            raise AssistanceError(f"{code}：劳动能力条件须为 any/able/unable")
        risks = _codes(item.get("risk_types"), "risk_types", code)
        unknown = [r for r in risks.split(";") if r and r not in RISK_TYPES]
        if unknown:
            raise AssistanceError(f"{code}：未知风险类型 {unknown}")
        out.append(
            {
                "code": code,
                "category": item["category"],
                "name": str(item.get("name", "")).strip() or code,
                "risk_types": risks,
                "categories": ";".join(item.get("categories") or []),
                "labour": item.get("labour", "any"),
                "per_person": bool(item.get("per_person", False)),
                "eligibility": str(item.get("eligibility", "")),
                "amount": Decimal(str(item["amount"])) if item.get("amount") is not None else None,
                "standard": str(item.get("standard", "")),
                "department": str(item.get("department", "")),
                "continues_after_elimination": bool(item.get("continues", False)),
                "priority": int(item.get("priority", 50)),
            }
        )
    return out


def county_of(region: Region | str) -> str:
    """The county code a region belongs to (the toolbox is kept per county)."""
    code = region if isinstance(region, str) else region.prefix
    return code[:6]


@transaction.atomic
def seed_toolbox(county: Region, *, actor: Any = None, path: Path = DEFAULT_TOOLBOX) -> int:
    """Load the default toolbox into a county; measure types it already has (by code) are left as edited."""
    if county.level != Level.COUNTY:
        raise AssistanceError("政策工具箱按县设置")
    existing = set(MeasureType.objects.filter(county=county).values_list("code", flat=True))
    new = [MeasureType(county=county, **e) for e in load_toolbox(path) if e["code"] not in existing]
    MeasureType.objects.bulk_create(new)
    record(
        Event.TOOLBOX_SEEDED,
        actor=actor,
        object_type="region",
        object_id=county.prefix,
        data={"created": len(new), "file": path.name},
    )
    return len(new)


@outermost
def save_measure_type(
    county: Region,
    data: dict[str, Any],
    *,
    actor: User,
    instance: MeasureType | None = None,
    expected_version: int | None = None,
) -> MeasureType:
    """Create or edit a toolbox entry (county approver). A stale edit form is refused, never overwritten."""
    _require(actor, Can.MANAGE_TOOLBOX)
    if not county.prefix.startswith(str(actor.region_id)):
        raise AssistanceError("只能维护本县的政策工具箱")
    values = {k: data[k] for k in MEASURE_TYPE_FIELDS if k in data}
    if instance is None:
        code = str(data.get("code", "")).strip()
        if not code:
            raise AssistanceError("请填写措施编号")
        if MeasureType.objects.filter(county=county, code=code).exists():
            raise AssistanceError(f"本县已有编号为 {code} 的措施")
        measure_type = MeasureType.objects.create(county=county, code=code, **values)
        event = Event.MEASURE_TYPE_CREATED
    else:
        measure_type = lock(MeasureType, instance.pk, expected_version or instance.version, message=STALE)
        for name, value in values.items():
            setattr(measure_type, name, value)
        measure_type.bump(values)
        event = Event.MEASURE_TYPE_UPDATED
    record(
        event,
        actor=actor,
        object_type="measure_type",
        object_id=measure_type.pk,
        data={"code": measure_type.code, "fields": sorted(values)},
    )
    return measure_type


def toolbox(county_code: str) -> models.QuerySet[MeasureType]:
    return MeasureType.objects.filter(county_id=county_code)


# --- plans -----------------------------------------------------------------------------------------


def is_monitored(case: Case) -> bool:
    from fangpin.cases.monitoring import monitored

    return monitored(Case.objects.filter(pk=case.pk)).exists()


@transaction.atomic
def create_plan(
    case: Case, *, actor: User, responsible: User | None = None, summary: str = ""
) -> AssistancePlan:
    """Open the 一户一策 plan of a monitored household (one per identification case)."""
    _require(actor, Can.MANAGE_ASSISTANCE)
    if AssistancePlan.objects.filter(case=case).exists():
        raise AssistanceError("该户已有帮扶计划")
    if not is_monitored(case):
        raise AssistanceError("只有已纳入监测（或绿色通道先行帮扶）的农户才能建立帮扶计划")
    _check_responsible(responsible, case.village_id)
    plan = AssistancePlan.objects.create(
        case=case,
        household_id=case.household_id,
        village_id=case.village_id,
        responsible=responsible,
        summary=summary,
        created_by=actor,
    )
    record(
        Event.PLAN_CREATED,
        actor=actor,
        object_type="assistance_plan",
        object_id=plan.pk,
        data={"case": case.pk},
    )
    if responsible is not None and responsible.pk != actor.pk:
        notify(
            [responsible],
            "您被指定为一户帮扶责任人",
            f"户编号 {case.household.household_no}",
            f"/assistance/plans/{plan.pk}/",
            verb="plan.responsible",
            target=plan,
        )
    return plan


def _check_responsible(user: User | None, village_id: str) -> None:
    if user is not None and not (user.is_active and village_id.startswith(str(user.region_id))):
        raise AssistanceError("帮扶责任人须为本村或上级区划的在职人员")


def situation(plan: AssistancePlan, extra_risk_types: Sequence[str] = ()) -> ranking.Situation:
    case = plan.case
    latest = plan.visits.first()
    flags: dict[str, object] = (
        {
            "medical_ok": latest.medical_ok,
            "education_ok": latest.education_ok,
            "housing_ok": latest.housing_ok,
            "water_ok": latest.water_ok,
        }
        if latest
        else {k: v for k, v in (case.visit or {}).items() if k.endswith("_ok")}
    )
    able = (case.visit or {}).get("able_members")
    open_codes = plan.measures.filter(status__in=OPEN_MEASURE_STATUSES).values_list(
        "measure_type__code", flat=True
    )
    risks = tuple(dict.fromkeys([*case.risk_type_list(), *extra_risk_types]))
    return ranking.Situation(
        risk_types=risks,
        category=case.category,
        able_members=int(able) if isinstance(able, int | str) and str(able).isdigit() else None,
        unmet=ranking.unmet_needs(flags),
        existing=frozenset(open_codes),
    )


def _entry(t: MeasureType) -> ranking.Entry:
    return ranking.Entry(
        code=t.code,
        name=t.name,
        category=t.category,
        risk_types=tuple(t.risk_type_list()),
        categories=tuple(t.category_list()),
        labour=t.labour,
        priority=t.priority,
    )


def suggestions(
    plan: AssistancePlan, extra_risk_types: Sequence[str] = (), limit: int = 8
) -> list[tuple[MeasureType, ranking.Suggestion]]:
    """Toolbox measures suited to the household, best first (see suggest.py)."""
    types = {t.code: t for t in toolbox(county_of(plan.village_id)).filter(active=True)}
    ranked = ranking.suggest([_entry(t) for t in types.values()], situation(plan, extra_risk_types), limit)
    return [(types[s.code], s) for s in ranked]


@transaction.atomic
def add_measure(
    plan: AssistancePlan,
    *,
    actor: User,
    measure_type: MeasureType,
    start_date: dt.date,
    person: Person | None = None,
    end_date: dt.date | None = None,
    amount: Decimal | None = None,
    responsible: User | None = None,
    note: str = "",
    lead: Lead | None = None,
) -> Measure:
    _require(actor, Can.MANAGE_ASSISTANCE)
    if measure_type.county_id != county_of(plan.village_id) or not measure_type.active:
        raise AssistanceError("请从本县政策工具箱中选择启用的措施")
    if end_date is not None and end_date < start_date:
        raise AssistanceError("结束日期不能早于开始日期")
    if (
        person is not None
        and not plan.household.memberships.filter(person=person, end_date__isnull=True).exists()
    ):
        raise AssistanceError("帮扶对象须为该户现有成员")
    if measure_type.per_person and person is None:
        raise AssistanceError(f"“{measure_type.name}”到人，请选择家庭成员")
    _check_responsible(responsible, plan.village_id)
    measure = Measure.objects.create(
        plan=plan,
        measure_type=measure_type,
        person=person,
        start_date=start_date,
        end_date=end_date,
        amount=amount if amount is not None else measure_type.amount,
        responsible=responsible or plan.responsible,
        status=MeasureStatus.ACTIVE if start_date <= timezone.localdate() else MeasureStatus.PLANNED,
        note=note,
        lead=lead,
    )
    record(
        Event.MEASURE_ADDED,
        actor=actor,
        object_type="measure",
        object_id=measure.pk,
        data={"plan": plan.pk, "type": measure_type.code, "lead": lead.pk if lead else None},
    )
    who = measure.responsible
    if who is not None and who.pk != actor.pk:
        notify(
            [who],
            f"新的帮扶措施：{measure_type.name}",
            f"户编号 {plan.household.household_no}",
            f"/assistance/plans/{plan.pk}/",
            verb="measure.added",
            target=plan,
        )
    return measure


@outermost
def update_measure(
    measure: Measure,
    *,
    actor: User,
    expected_version: int,
    status: str,
    effect: str = "",
    income_gained: Decimal | None = None,
    end_date: dt.date | None = None,
) -> Measure:
    """Record progress and effect (成效) of a measure; stale forms are refused."""
    _require(actor, Can.MANAGE_ASSISTANCE)
    if status not in MeasureStatus.values:
        raise AssistanceError("未知的措施状态")
    if end_date is not None and end_date < measure.start_date:
        raise AssistanceError("结束日期不能早于开始日期")
    locked = lock(Measure, measure.pk, expected_version, message=STALE)
    locked.status, locked.effect, locked.income_gained, locked.end_date = (
        status,
        effect,
        income_gained,
        end_date,
    )
    locked.bump(["status", "effect", "income_gained", "end_date"])
    record(
        Event.MEASURE_UPDATED,
        actor=actor,
        object_type="measure",
        object_id=measure.pk,
        data={"status": status, "income_gained": str(income_gained) if income_gained is not None else None},
    )
    locked.refresh_from_db()  # the amount as stored (two decimals)
    return locked


@transaction.atomic
def record_visit(
    plan: AssistancePlan,
    *,
    actor: User,
    visited_on: dt.date,
    findings: str,
    income_per_capita: Decimal | None = None,
    food_clothing_ok: bool = True,
    education_ok: bool = True,
    medical_ok: bool = True,
    housing_ok: bool = True,
    water_ok: bool = True,
) -> FollowUpVisit:
    if not (actor.can(Can.MANAGE_ASSISTANCE) or actor.can(Can.VERIFY_HOUSEHOLD)):
        raise AssistanceError("您的角色无权登记走访")
    if visited_on > timezone.localdate():
        raise AssistanceError("走访日期不能晚于今天")
    if not findings.strip():
        raise AssistanceError("请填写走访情况")
    visit = FollowUpVisit.objects.create(
        plan=plan,
        visited_on=visited_on,
        visitor=actor,
        findings=findings.strip(),
        income_per_capita=income_per_capita,
        food_clothing_ok=food_clothing_ok,
        education_ok=education_ok,
        medical_ok=medical_ok,
        housing_ok=housing_ok,
        water_ok=water_ok,
    )
    record(
        Event.FOLLOWUP_RECORDED,
        actor=actor,
        object_type="assistance_plan",
        object_id=plan.pk,
        data={"visit": visit.pk, "secured": visit.secured},
    )
    return visit


# --- dynamic adjustment ----------------------------------------------------------------------------

OPEN_PROMPT = (LeadStatus.NEW, LeadStatus.ACCEPTED)


def prompts(plan: AssistancePlan) -> list[Lead]:
    """Open screening prompts for the household: add measures (risk up) or consider elimination (risk down)."""
    return list(
        Lead.objects.filter(
            household_id=plan.household_id,
            kind__in=[LeadKind.ADJUST, LeadKind.ELIMINATION],
            status__in=OPEN_PROMPT,
        ).order_by("-created_at")
    )


def new_risk_types(plan: AssistancePlan, lead: Lead) -> tuple[str, ...]:
    return ranking.new_risk_types(plan.case.risk_type_list(), [r for r in lead.risk_types.split(";") if r])


@transaction.atomic
def adjust(
    plan: AssistancePlan, lead: Lead, *, actor: User, measure_type_ids: Iterable[int], start_date: dt.date
) -> list[Measure]:
    """Answer an adjust_assistance prompt: add the chosen measures and record the outcome 'adjusted' (fed
    back to the department whose data raised it)."""
    from fangpin.warnings.actions import record_outcome

    _require(actor, Can.MANAGE_ASSISTANCE)
    if (
        lead.household_id != plan.household_id
        or lead.kind != LeadKind.ADJUST
        or lead.status not in OPEN_PROMPT
    ):
        raise AssistanceError("该提示不属于本户或已处理")
    chosen = list(toolbox(county_of(plan.village_id)).filter(pk__in=list(measure_type_ids), active=True))
    if not chosen:
        raise AssistanceError("请至少选择一项措施")
    added = []
    for measure_type in chosen:
        person = None
        if measure_type.per_person:
            head = plan.household.memberships.filter(end_date__isnull=True).order_by("relation").first()
            person = head.person if head else None
        added.append(
            add_measure(
                plan, actor=actor, measure_type=measure_type, start_date=start_date, person=person, lead=lead
            )
        )
    record_outcome(lead, "adjusted", actor=actor)
    return added


# --- the roster (台账) export ------------------------------------------------------------------------


def exports_dir() -> Path:
    from django.conf import settings

    # next to the upload folder under FANGPIN_HOME (tests point it at a temporary folder)
    return Path(settings.FANGPIN_INCOMING).parent / "exports"


def request_roster_export(
    actor: User,
    *,
    purpose: Purpose,
    reveal: bool = False,
    reason: str = "",
    approval: ExportRequest | None = None,
) -> RosterExport | ExportRequest:
    """Queue the roster of the actor's region, for a stated purpose; full ID numbers only with REVEAL_PI
    and a stated reason. Above the approval threshold it becomes a request another person approves
    (then the requester calls this again with the approval)."""
    from fangpin.accounts import scope
    from fangpin.assistance.roster import roster_cases
    from fangpin.assistance.tasks import build_roster

    _require(actor, Can.EXPORT_ROSTER)
    reason = reason.strip()
    if reveal:
        if not actor.can(Can.REVEAL_PI):
            raise AssistanceError("您的角色不能导出完整身份号码")
        if len(reason) < 4:
            raise AssistanceError("导出完整身份号码须填写理由（至少 4 个字）")
    if approval is None:
        rows = roster_cases(scope.cases(actor)).count()
        if privacy.needs_approval(rows):
            return privacy.request_approval(
                actor,
                kind=ExportKind.ROSTER,
                region_id=actor.region_id,
                rows=rows,
                purpose=purpose,
                params={"reveal": reveal, "reason": reason[:200]},
            )
    with transaction.atomic():
        if approval is not None:
            privacy.use_approval(approval, actor=actor, kind=ExportKind.ROSTER)
        export = RosterExport.objects.create(
            requested_by=actor, region_id=actor.region_id, reveal=reveal, reason=reason[:200]
        )
        if approval is not None:
            privacy.link_export(approval, export.pk)
        record(
            Event.ROSTER_EXPORT,
            actor=actor,
            object_type="roster_export",
            object_id=export.pk,
            reason=reason[:500],
            data={
                "region": actor.region_id,
                "reveal": reveal,
                **purpose.audit_data(),
                **({"approval": approval.pk} if approval else {}),
            },
        )
        transaction.on_commit(lambda: build_roster.enqueue(export.pk))
    return export


def build_roster_export(export_id: int) -> str:
    """The background part: write the workbook, updating progress as it goes."""
    from fangpin.accounts import scope
    from fangpin.assistance import roster

    export = RosterExport.objects.select_related("requested_by", "region").get(pk=export_id)
    RosterExport.objects.filter(pk=export_id).update(status=ExportStatus.RUNNING)
    try:
        cases = scope.cases(export.requested_by)
        total = roster.roster_cases(cases).count()
        RosterExport.objects.filter(pk=export_id).update(total=total)

        def progress(done: int) -> None:
            RosterExport.objects.filter(pk=export_id).update(done=done)

        title = f"{export.region.name} 防止返贫致贫监测对象台账"
        content, count = roster.workbook(cases, reveal=export.reveal, title=title, progress=progress)
        folder = exports_dir()
        folder.mkdir(parents=True, exist_ok=True)
        name = f"roster-{export.pk}.xlsx"
        partial = folder / f"{name}.tmp"
        partial.write_bytes(content)
        partial.replace(folder / name)
    except Exception as exc:
        RosterExport.objects.filter(pk=export_id).update(
            status=ExportStatus.FAILED, message=f"导出失败：{exc}"[:500], finished_at=timezone.now()
        )
        raise
    RosterExport.objects.filter(pk=export_id).update(
        status=ExportStatus.DONE, done=count, total=count, file_name=name, finished_at=timezone.now()
    )
    return "done"


def export_path(export: RosterExport) -> Path | None:
    if export.status != ExportStatus.DONE or not export.file_name:
        return None
    path = exports_dir() / export.file_name
    return path if path.exists() else None


@transaction.atomic
def end_measures_on_elimination(identification: Case, *, actor: Any = None, on: dt.date | None = None) -> int:
    """When a household's risk is eliminated, its open measures end — except those the toolbox marks as
    continuing (小额信贷 to the contract's end, 雨露计划 to the end of the school stage). Returns how many
    ended. Called by the cases app when an elimination case is marked eliminated."""
    plan = AssistancePlan.objects.filter(case=identification).first()
    if plan is None:
        return 0
    on = on or timezone.localdate()
    ending = plan.measures.filter(
        status__in=OPEN_MEASURE_STATUSES, measure_type__continues_after_elimination=False
    )
    ids = list(ending.values_list("pk", flat=True))
    Measure.objects.filter(pk__in=ids).update(
        status=MeasureStatus.DONE, end_date=on, version=F("version") + 1
    )
    Measure.objects.filter(pk__in=ids, end_date__lt=F("start_date")).update(end_date=F("start_date"))
    if ids:
        record(
            Event.MEASURES_ENDED,
            actor=actor,
            object_type="assistance_plan",
            object_id=plan.pk,
            reason="风险消除",
            data={"measures": ids},
        )
    return len(ids)
