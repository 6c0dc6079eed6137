"""Every change to a case goes through here: one transaction, the case row locked and its version checked,
one CaseStep and one audit row, notifications to the people who act next (inbox rows in the same
transaction, robots and e-mail after commit).

    case = open_case(lead, actor=township_reviewer, assignee=grid_worker)
    case = submit(case, "submit_visit", actor=grid_worker, payload={...}, files={"authorization": f})
    case = transition(case, "township_approve", actor=reviewer, expected_version=case.version, data={})
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from fangpin.accounts.models import User
from fangpin.accounts.roles import Can, Role
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases import deadlines, monitoring
from fangpin.cases.forms import form_class
from fangpin.cases.models import Case, CaseStep
from fangpin.cases.transitions import (
    DECIDED_STATES,
    LEVEL_CAPABILITY,
    STATE_LABELS,
    Actor,
    CaseView,
    Kind,
    Level,
    Refused,
    State,
    check,
    check_decision,
    elimination_blockers,
    level_of,
    must_hold,
    target_state,
)
from fangpin.kernel import ActionError, Conflict, lock, outermost
from fangpin.lib.periods import previous_period
from fangpin.lib.risks import RISK_TYPES
from fangpin.registry.models import Household
from fangpin.warnings.actions import mark_in_case, record_outcome
from fangpin.warnings.models import Lead, LeadKind, LeadStatus
from fangpin.warnings.screening import monitoring_line

log = logging.getLogger(__name__)

__all__ = [
    "CaseError",
    "Conflict",
    "Refused",
    "open_case",
    "open_elimination",
    "reassign",
    "submit",
    "transition",
    "actor_for",
]


class CaseError(ActionError):
    """Bad input: the message is shown to the user as is."""


# --- helpers -------------------------------------------------------------------------------------


def case_view(case: Case) -> CaseView:
    return CaseView(
        kind=Kind(case.kind),
        state=State(case.state),
        return_to=State(case.return_to) if case.return_to else None,
        green_channel=case.green_channel,
        publicity_started_at=case.publicity_started_at,
    )


def in_scope(user: User, case: Case) -> bool:
    return bool(
        user.is_active and user.can(Can.VIEW_LEADS) and str(case.village_id).startswith(str(user.region_id))
    )


def actor_for(case: Case, user: User) -> Actor:
    levels = {
        Level(level)
        for level in CaseStep.objects.filter(case=case, actor=user)
        .exclude(level="")
        .values_list("level", flat=True)
    }
    capabilities = frozenset(str(c) for c in LEVEL_CAPABILITY.values() if user.can(Can(c)))
    return Actor(
        id=user.pk, capabilities=capabilities, in_scope=in_scope(user, case), levels_acted=frozenset(levels)
    )


def _notify(users: Iterable[User], title: str, case: Case, *, verb: str) -> None:
    from fangpin.notifications.actions import notify

    notify(
        list(users),
        title,
        f"{case.village.name} · 户号尾号 {case.household.household_no[-4:]} · {STATE_LABELS[case.state]}",
        reverse("cases:case_detail", kwargs={"pk": case.pk}),
        verb=verb,
        target=case,
    )


def _people(role: str, region: str) -> models.QuerySet[User]:
    return User.objects.filter(role=role, region_id=region, is_active=True)


def _township_of(case: Case) -> str:
    return str(case.village.parent_id or str(case.village_id)[:9])


def _county_of(case: Case) -> str:
    return str(case.village_id)[:6]


def _who_acts_next(case: Case) -> list[User]:
    """The people who take the next step (they get an inbox message)."""
    state = State(case.return_to) if case.state == State.RETURNED and case.return_to else State(case.state)
    if state == State.VERIFYING:
        return [case.assignee] if case.assignee else list(_people(Role.GRID_WORKER, str(case.village_id)))
    if state in (State.VILLAGE_REVIEW, State.PUBLICITY):
        return list(_people(Role.VILLAGE_CADRE, str(case.village_id)))
    if state in (State.TOWNSHIP_REVIEW, State.ANNOUNCED):
        return list(_people(Role.TOWNSHIP_REVIEWER, _township_of(case)))
    if state == State.COUNTY_APPROVAL:
        return list(_people(Role.COUNTY_APPROVER, _county_of(case)))
    return [u for u in (case.assignee, case.opened_by) if u is not None]


def _feedback(lead: Lead | None, outcome: str, actor: User | None) -> None:
    """The result goes back to the lead (and from there to the data owner who triggered it)."""
    if lead is not None:
        record_outcome(lead, outcome, actor=actor)


def assignees_for(village_id: str) -> models.QuerySet[User]:
    """Grid workers and village cadres of the village (or of one of its grids)."""
    return User.objects.filter(
        role__in=[Role.GRID_WORKER, Role.VILLAGE_CADRE], region__prefix__startswith=village_id, is_active=True
    ).order_by("role", "username")


def _check_assignee(assignee: User, village_id: str) -> None:
    if not assignees_for(village_id).filter(pk=assignee.pk).exists():
        raise CaseError("核实责任人须为该村（或其网格）的网格员或村干部")


# --- opening -------------------------------------------------------------------------------------


def _new_case(
    *,
    kind: Kind,
    household: Household,
    lead: Lead | None,
    actor: User,
    assignee: User,
    found_at: dt.datetime,
    at: dt.datetime,
    identification: Case | None = None,
) -> Case:
    rule = deadlines.rule_for(str(household.village_id))
    try:
        with transaction.atomic():
            case = Case.objects.create(
                kind=kind,
                household=household,
                village_id=household.village_id,
                lead=lead,
                identification=identification,
                assignee=assignee,
                opened_by=actor,
                found_at=found_at,
                opened_at=at,
                deadline_at=deadlines.deadline_for(found_at, rule),
                category=lead.category if lead else (identification.category if identification else ""),
                risk_types=lead.risk_types if lead else (identification.risk_types if identification else ""),
            )
    except IntegrityError as exc:
        raise CaseError("该户已有一个办理中的同类案件") from exc
    provisional = (
        deadlines.unknown_years(
            found_at.astimezone(deadlines.LOCAL).date(), case.deadline_at.astimezone(deadlines.LOCAL).date()
        )
        if rule.working_days
        else []
    )
    CaseStep.objects.create(
        case=case,
        action="open",
        from_state="",
        to_state=case.state,
        level="",
        actor=actor,
        at=at,
        note=f"派发给 {assignee.full_name or assignee.username}；时限 {rule.describe()}"
        + (f"（{deadlines.provisional_notice(provisional)}）" if provisional else ""),
        data={
            "assignee": assignee.pk,
            "rule": rule.describe(),
            "rule_region": rule.region_id,
            "provisional_years": provisional,  # deadline_recomputed steps follow when a year is entered
        },
    )
    record(
        Event.CASE_OPENED,
        actor=actor,
        object_type="case",
        object_id=case.pk,
        data={"kind": str(kind), "lead": lead.pk if lead else None, "assignee": assignee.pk},
    )
    _notify([assignee], f"新的入户核实任务（{rule.describe()}内办结）", case, verb="case_assigned")
    return case


@outermost
def open_case(
    lead: Lead,
    *,
    actor: User,
    assignee: User,
    green_channel: bool = False,
    category: str = "",
    risk_types: list[str] | None = None,
    reason: str = "",
    at: dt.datetime | None = None,
) -> Case:
    """Dispatch a lead: a township reviewer or county approver opens the case and assigns a grid worker
    or village cadre of the lead's village. A consider-elimination lead opens an elimination case."""
    at = at or timezone.now()
    locked = lock(Lead, lead.pk, None)
    if not actor.can(Can.DISPATCH_LEADS) or not str(locked.village_id).startswith(str(actor.region_id)):
        raise Refused("您无权派发该线索")
    if locked.status not in (LeadStatus.NEW, LeadStatus.ACCEPTED):
        raise CaseError(f"线索当前为“{locked.get_status_display()}”，不能立案")
    if locked.household_id is None:
        raise CaseError("线索尚未匹配到农户，请先核对户籍信息")
    if locked.kind == LeadKind.ADJUST:
        raise CaseError("“调整帮扶”线索在帮扶计划中处理，不需立案")
    _check_assignee(assignee, str(locked.village_id))
    household = locked.household
    assert household is not None
    if locked.kind == LeadKind.ELIMINATION:
        identification = monitoring.current_case(household)
        if identification is None:
            raise CaseError("该户不是监测对象，不能启动风险消除")
        if identification.state != State.MONITORED:
            raise CaseError("绿色通道案件须先补齐识别程序，才能启动风险消除")
        case = _new_case(
            kind=Kind.ELIMINATION,
            household=household,
            lead=locked,
            actor=actor,
            assignee=assignee,
            found_at=at,
            at=at,
            identification=identification,
        )
    else:
        if monitoring.current_case(household) is not None:
            raise CaseError("该户已是监测对象：请在帮扶计划中调整措施")
        case = _new_case(
            kind=Kind.IDENTIFICATION,
            household=household,
            lead=locked,
            actor=actor,
            assignee=assignee,
            found_at=min(locked.created_at, at),
            at=at,
        )
    mark_in_case(locked, actor=actor)
    if green_channel:
        payload = {
            "version": case.version,
            "category": category or locked.category,
            "risk_types": risk_types if risk_types is not None else locked.risk_type_list(),
            "reason": reason,
        }
        form = _valid_form(case, "green_channel", actor=actor, payload=payload)
        case = _transition(
            case, "green_channel", actor=actor, expected_version=case.version, form=form, at=at
        )
    return case


@outermost
def open_elimination(
    identification: Case, *, actor: User, assignee: User, at: dt.datetime | None = None
) -> Case:
    """Start risk elimination for a monitored household without a lead (a township's own judgement)."""
    at = at or timezone.now()
    if not actor.can(Can.DISPATCH_LEADS) or not in_scope(actor, identification):
        raise Refused("您无权启动该户的风险消除")
    current = monitoring.current_case(identification.household)
    if current is None or current.pk != identification.pk:
        raise CaseError("该户不是监测对象，不能启动风险消除")
    if current.state != State.MONITORED:
        raise CaseError("绿色通道案件须先补齐识别程序，才能启动风险消除")
    _check_assignee(assignee, str(identification.village_id))
    return _new_case(
        kind=Kind.ELIMINATION,
        household=identification.household,
        lead=None,
        actor=actor,
        assignee=assignee,
        found_at=at,
        at=at,
        identification=identification,
    )


@outermost
def reassign(case: Case, *, actor: User, assignee: User, expected_version: int) -> Case:
    locked = _lock(case, expected_version)
    if not actor.can(Can.DISPATCH_LEADS) or not in_scope(actor, locked):
        raise Refused("您无权改派该案件")
    if not locked.is_open:
        raise CaseError("案件已办结，不能改派")
    _check_assignee(assignee, str(locked.village_id))
    previous = locked.assignee_id
    locked.assignee = assignee
    locked.bump(["assignee"])
    CaseStep.objects.create(
        case=locked,
        action="reassign",
        from_state=locked.state,
        to_state=locked.state,
        actor=actor,
        at=timezone.now(),
        note=f"改派给 {assignee.full_name or assignee.username}",
        data={"from": previous, "to": assignee.pk},
    )
    record(
        Event.CASE_REASSIGNED, actor=actor, object_type="case", object_id=locked.pk, data={"to": assignee.pk}
    )
    _notify([assignee], "新的入户核实任务（改派）", locked, verb="case_assigned")
    return locked


# --- the transitions -----------------------------------------------------------------------------


def _lock(case: Case, expected_version: int) -> Case:
    def who_changed_it(locked: Case) -> str:
        last = locked.steps.select_related("actor").order_by("-at", "-id").first()
        who = (last.actor.full_name or last.actor.username) if last and last.actor else "系统"
        return f"该案件已被{who}办理（当前：{STATE_LABELS[locked.state]}），您看到的是旧版本，请刷新后重试"

    cases = Case.objects.select_related("village", "household", "lead")
    return lock(cases, case.pk, expected_version, message=who_changed_it)


def submit(
    case: Case,
    action: str,
    *,
    actor: User,
    payload: Mapping[str, Any],
    files: Mapping[str, UploadedFile[Any]] | None = None,
    at: dt.datetime | None = None,
) -> Case:
    """Validate `payload` with the step's form (as the web page does) and take the step."""
    form = _valid_form(case, action, actor=actor, payload=payload, files=files)
    return transition(
        case, action, actor=actor, expected_version=form.cleaned_data["version"], form=form, at=at
    )


def _valid_form(
    case: Case,
    action: str,
    *,
    actor: User,
    payload: Mapping[str, Any],
    files: Mapping[str, UploadedFile[Any]] | None = None,
) -> Any:
    uploads = MultiValueDict({k: [v] for k, v in (files or {}).items()})
    form = form_class(action, case.kind)(data=payload, files=uploads, actor=actor)
    if not form.is_valid():
        problems = "；".join(
            f"{form.fields[f].label if f in form.fields else ''}{'：' if f in form.fields else ''}{' '.join(str(x) for x in e)}"
            for f, e in form.errors.items()
        )
        raise CaseError(problems)
    return form


@outermost
def transition(
    case: Case,
    action: str,
    *,
    actor: User | None,
    expected_version: int,
    form: Any = None,
    at: dt.datetime | None = None,
) -> Case:
    """Take one step. `form` is the step's valid form (see forms.form_class); None for `compare`."""
    return _transition(case, action, actor=actor, expected_version=expected_version, form=form, at=at)


@transaction.atomic
def _transition(
    case: Case,
    action: str,
    *,
    actor: User | None,
    expected_version: int,
    form: Any = None,
    at: dt.datetime | None = None,
) -> Case:
    """`transition` for callers inside another action (open_case, the automatic comparison)."""
    at = at or timezone.now()
    locked = _lock(case, expected_version)
    view = case_view(locked)
    who = actor_for(locked, actor) if actor is not None else None
    step = check(view, action, who, now=at)
    level = level_of(step, view)
    data: dict[str, Any] = dict(form.cleaned_data) if form is not None else {}
    data.pop("version", None)
    attachment = data.pop("authorization", None)
    note = str(data.get("note") or data.get("reason") or data.get("objection") or "")
    return_to = State(data["return_to"]) if data.get("return_to") else None
    new_state = target_state(view, step, return_to=return_to)
    from_state = locked.state
    fields = ["state"]  # + version and updated_at (Versioned.bump)

    if action == "submit_visit":
        assert form is not None
        visit = form.visit()
        if locked.kind == Kind.IDENTIFICATION and attachment is None:
            raise CaseError("请上传农户签字的承诺授权书（扫描件或照片）")
        locked.visit = visit
        data = visit
        note = visit.get("notes", "")
        if visit.get("risk_types") and locked.kind == Kind.IDENTIFICATION:
            locked.risk_types = ";".join(visit["risk_types"][:5])
            fields.append("risk_types")
        locked.return_to = ""
        fields += ["visit", "return_to"]
    elif action == "village_review":
        data["meeting_date"] = data["meeting_date"].isoformat()
        locked.review = {**locked.review, "meeting": data, "objections": []}
        locked.publicity_started_at = at
        locked.return_to = ""
        note = f"参会 {data['attendees']} 人，同意 {data['votes_for']} 人：{data['result']}"
        fields += ["review", "publicity_started_at", "return_to"]
    elif action == "record_objection":
        objections = [*locked.review.get("objections", []), {"at": at.isoformat(), "text": data["objection"]}]
        locked.review = {**locked.review, "objections": objections}
        fields.append("review")
    elif action == "county_approve" and locked.kind == Kind.IDENTIFICATION:
        problems = check_decision(data["category"], data["risk_types"], RISK_TYPES)
        if problems:
            raise CaseError("；".join(problems))
        locked.category = data["category"]
        locked.risk_types = ";".join(data["risk_types"])
        fields += ["category", "risk_types"]
    elif action == "county_approve":
        if must_hold(locked.visit):
            raise Refused("该户无劳动能力：不标注风险消除，请“暂缓消除，继续监测”")
        blockers = elimination_blockers(locked.visit, locked.comparison)
        if blockers:
            raise Refused("不符合风险消除条件：" + "；".join(blockers))
    elif action == "green_channel":
        problems = check_decision(data["category"], data["risk_types"], RISK_TYPES)
        if problems:
            raise CaseError("；".join(problems))
        locked.green_channel = True
        locked.monitored_at = at
        locked.category = data["category"]
        locked.risk_types = ";".join(data["risk_types"])
        fields += ["green_channel", "monitored_at", "category", "risk_types"]
    elif action in ("reject", "hold", "return_for_rework"):
        locked.reason = data["reason"]
        fields.append("reason")
        if return_to is not None:
            locked.return_to = return_to
            fields.append("return_to")
    if action == "announce":
        locked.monitored_at = locked.monitored_at or at
        fields.append("monitored_at")
    if new_state in DECIDED_STATES and locked.decided_at is None and action != "green_channel":
        locked.decided_at = at
        fields.append("decided_at")

    locked.state = new_state
    locked.bump(fields)
    saved = CaseStep(
        case=locked,
        action=action,
        from_state=from_state,
        to_state=new_state,
        level="" if not step.counts_for_level else str(level),
        actor=actor,
        at=at,
        note=note,
        data=_jsonable(data),
    )
    if attachment is not None:  # an uploads.Accepted: checked, images re-encoded, a random name
        saved.attachment_type = attachment.kind.content_type
        saved.data = {**saved.data, "attachment_name": attachment.original_name}
        saved.attachment.save(attachment.stored_name, ContentFile(attachment.content), save=False)
    saved.save()
    record(
        Event(f"CASE_{action.upper()}"),  # one member per transition (a test walks them)
        actor=actor,
        object_type="case",
        object_id=locked.pk,
        # the reason text stays on the CaseStep: free text may name an illness, which the log must not hold
        data={"from": from_state, "to": str(new_state), "green_channel": locked.green_channel},
    )
    _after(locked, action, actor, at)
    return locked


def _after(case: Case, action: str, actor: User | None, at: dt.datetime) -> None:
    """Side effects of a step: the automatic comparison, feedback to the lead, the next people's inbox."""
    if action == "submit_visit":
        findings = compare(case)
        case.comparison = findings
        case.save(update_fields=["comparison"])
        _transition(case, "compare", actor=None, expected_version=case.version, at=at)
        case.refresh_from_db()
        return
    if action == "announce":
        _feedback(case.lead, "confirmed", actor)
    elif action == "reject":
        _feedback(case.lead, "not_confirmed" if case.kind == Kind.IDENTIFICATION else "kept", actor)
    elif action == "hold":
        _feedback(case.lead, "kept", actor)
    elif action == "county_approve" and case.kind == Kind.ELIMINATION:
        _feedback(case.lead, "eliminated", actor)
        if case.identification is not None:
            # imported here: the assistance app builds on the cases app, not the other way round
            from fangpin.assistance.actions import end_measures_on_elimination

            end_measures_on_elimination(case.identification, actor=actor, on=timezone.localdate(at))
    if action == "record_objection":
        _notify(
            _people(Role.TOWNSHIP_REVIEWER, _township_of(case)), "公示收到异议", case, verb="case_objection"
        )
        return
    people = _who_acts_next(case)
    titles = {
        "reject": "案件不予通过",
        "hold": "风险消除暂缓，继续监测",
        "return_for_rework": "案件被退回重办",
        "announce": "已纳入监测，请制定帮扶计划",
        "green_channel": "绿色通道：请立即帮扶，程序后补",
    }
    title = titles.get(action, f"待您办理：{STATE_LABELS[case.return_to or case.state]}")
    if case.state == State.ELIMINATED:
        title = "风险已消除"
    _notify([p for p in people if actor is None or p.pk != actor.pk], title, case, verb=f"case_{action}")


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, (dt.date, dt.datetime)):
            out[key] = value.isoformat()
        elif hasattr(value, "as_tuple"):
            out[key] = float(value)
        elif isinstance(value, (str, int, float, bool, list, dict)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


# --- 信息比对: what department data says about assets -------------------------------------------------

ASSET_FLAGS = {
    "cars": "登记有机动车",
    "urban_properties": "城镇有房产",
    "active_businesses": "有在营市场主体",
}
DEPOSIT_FLAG = 50_000.0  # 元: deposits above this are worth a look (a flag, never a block)


def compare(case: Case) -> dict[str, Any]:
    """Flags from the household's portrait (the lead's snapshot, else the lake); never blocks the case."""
    portrait: dict[str, Any] = dict(case.lead.portrait_snapshot) if case.lead else {}
    source = "lead_snapshot" if portrait else ""
    months: list[dict[str, Any]] = []
    if not portrait or case.kind == Kind.ELIMINATION:
        try:
            months = _lake_portraits(case.household, 6 if case.kind == Kind.ELIMINATION else 1)
        except Exception as exc:  # the lake is optional for a visit: record why, go on
            log.warning("comparison for case %s: lake unavailable: %s", case.pk, exc)
            months = []
        if months and not portrait:
            portrait, source = months[0], "lake"
    flags = [label for key, label in ASSET_FLAGS.items() if float(portrait.get(key) or 0) > 0]
    if float(portrait.get("deposits") or 0) > DEPOSIT_FLAG:
        flags.append(f"存款超过 {DEPOSIT_FLAG:,.0f} 元")
    findings: dict[str, Any] = {
        "source": source or "none",
        "flags": flags,
        "assets": {k: portrait.get(k) for k in (*ASSET_FLAGS, "deposits", "car_value") if k in portrait},
        "net_income_pc_12m": portrait.get("net_income_pc_12m"),
    }
    if case.kind == Kind.ELIMINATION and months:
        above = 0
        for row in months:
            line = monitoring_line(int(str(row["period"])[:4]))
            if float(row.get("net_income_pc_12m") or 0) > line:
                above += 1
            else:
                break
        findings["months_above_line"] = above
        findings["months_checked"] = len(months)
    if not source:
        findings["note"] = "数据湖中无该户画像，比对结果以入户核实为准"
    return findings


_PORTRAITS: dict[tuple[str, str, float], dict[int, dict[str, Any]]] = {}


def _portraits_of(period: str) -> dict[int, dict[str, Any]]:
    """All households' portraits as of `period`, cached until the lake receives a delivery."""
    from fangpin.exchange.actions import lake
    from fangpin.pipeline.portrait import build_portraits

    root = Path(settings.FANGPIN_LAKE)
    stamp = max((f.stat().st_mtime for f in (root / "_deliveries").iterdir()), default=0.0)
    key = (str(root), period, stamp)
    if key not in _PORTRAITS:
        if len(_PORTRAITS) > 24:
            _PORTRAITS.clear()
        table = build_portraits(lake(), period)
        _PORTRAITS[key] = {int(r["household_key"]): r for r in table.to_pylist()}
    return _PORTRAITS[key]


def _lake_portraits(household: Household, months: int) -> list[dict[str, Any]]:
    """The household's portrait as of each of the last `months` months, latest first."""
    if not (Path(settings.FANGPIN_LAKE) / "_deliveries").is_dir():
        return []
    current = timezone.localdate().strftime("%Y-%m")
    rows = []
    for back in range(1, months + 1):
        period = previous_period(current, back)
        found = _portraits_of(period).get(household.pk)
        if found:
            rows.append({**found, "period": period})
    return rows
