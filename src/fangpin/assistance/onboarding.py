"""Day one of a county: its existing 监测对象台账 (the national 防返贫监测信息系统's export) becomes cases in
their current state, with their plans, measures and responsible cadres (docs/onboarding.md, ADR 0029).

    report = import_ledger(path, county, actor=approver)        # or username="cli" from the command line

One action: the file is read and every row checked (rejected rows kept with their Excel row number and a
Chinese reason), then everything is written in one transaction with one audit row for the import and one
CaseStep "导入" per case. A household already imported the same way is left alone (re-importing the same
file changes nothing); one that already has a fangpin case is reported, never doubled."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.assistance import ledger
from fangpin.assistance.actions import AssistanceError, seed_toolbox, toolbox
from fangpin.assistance.models import (
    AssistancePlan,
    Category,
    ExportStatus,
    Measure,
    MeasureStatus,
    MeasureType,
    RosterImport,
)
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome
from fangpin.cases.models import SOURCE_NATIONAL, Case, CaseStep
from fangpin.cases.transitions import Kind, State
from fangpin.lib.idcard import is_valid
from fangpin.regions.models import Level, Region
from fangpin.registry.models import Household, Membership, Relation

log = logging.getLogger(__name__)
PROVENANCE = "全国防返贫监测信息系统"
CHUNK = 500
CATEGORY_BY_LABEL = {label: value for value, label in Category.choices}


@dataclass
class Report:
    read: int = 0
    created: int = 0  # cases made monitored (eliminated ones included)
    eliminated: int = 0
    held: int = 0
    unchanged: int = 0  # imported before, exactly so
    rejected: list[ledger.Rejected] = field(default_factory=list)
    reported: list[ledger.Rejected] = field(default_factory=list)  # has a fangpin case: not doubled
    counts: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "created": self.created,
            "eliminated": self.eliminated,
            "held": self.held,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "reported": len(self.reported),
            **self.counts,
        }


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):  # SQLite's bound on query parameters
        yield values[start : start + CHUNK]


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def check_county(county: Region, actor: User | None) -> None:
    if county.level != Level.COUNTY:
        raise AssistanceError("监测对象台账按县导入，请选择县级区划")
    if actor is not None and (
        not actor.can(Can.COUNTY_APPROVE) or not county.prefix.startswith(str(actor.region_id))
    ):
        raise AssistanceError("只有本县的县级审批员可以导入监测对象台账")


# --- checking rows against the registry and the cases -----------------------------------------------


@dataclass
class _Known:
    households: dict[str, Household]
    members: dict[int, list[str]]  # household id → current members' ID numbers
    cases: dict[int, list[Case]]  # household id → its identification cases (not rejected)


def _known(numbers: list[str]) -> _Known:
    households: dict[str, Household] = {}
    for part in _chunks(numbers):
        households.update(
            (h.household_no, h)
            for h in Household.objects.filter(household_no__in=part).select_related("village")
        )
    ids = [h.pk for h in households.values()]
    members: dict[int, list[str]] = defaultdict(list)
    cases: dict[int, list[Case]] = defaultdict(list)
    for part_ids in _chunks([str(i) for i in ids]):
        for household_id, id_number in Membership.objects.filter(
            household_id__in=part_ids, end_date__isnull=True
        ).values_list("household_id", "person__id_number"):
            members[household_id].append(id_number)
        for case in (
            Case.objects.filter(household_id__in=part_ids, kind=Kind.IDENTIFICATION)
            .exclude(state=State.REJECTED)
            .prefetch_related("eliminations")
        ):
            cases[case.household_id].append(case)
    return _Known(households, members, cases)


def _id_matches(written: str, members: list[str]) -> bool:
    if not written:
        return True
    if "*" in written:
        return any(m[:6] == written[:6] and m[-4:].upper() == written[-4:] for m in members)
    return written in {m.upper() for m in members}


def _same_import(case: Case, row: ledger.LedgerRow) -> bool:
    """The household was imported before with this row's identification date and state."""
    if case.source != SOURCE_NATIONAL or case.monitored_at is None or row.identified_on is None:
        return False
    same_day = timezone.localtime(case.monitored_at).date() == row.identified_on
    states = {e.state for e in case.eliminations.all()}
    now = "eliminated" if State.ELIMINATED in states else "held" if State.HELD in states else "monitored"
    return same_day and now == row.state


def check_rows(
    rows: list[ledger.LedgerRow], county: Region, report: Report
) -> list[tuple[ledger.LedgerRow, Household]]:
    """The rows to write, each with its household; the others go to `report` with their reason."""
    known = _known(sorted({r.household_no for r in rows}))
    first_row: dict[str, int] = {}
    out = []
    for row in rows:
        household = known.households.get(row.household_no)
        problem = ""
        if row.household_no in first_row:
            problem = f"户编号与第 {first_row[row.household_no]} 行重复"
        elif household is None:
            problem = f"户编号 {row.household_no} 在户籍中不存在（请先导入公安户籍快照，或核对户编号）"
        elif not str(household.village_id).startswith(county.prefix):
            problem = f"户编号 {row.household_no} 不属于{county.name}"
        elif not _id_matches(row.head_id, known.members.get(household.pk, [])):
            problem = "户主证件号码与该户户籍成员不符"
        elif row.head_id and "*" not in row.head_id and not is_valid(row.head_id):
            problem = "户主证件号码校验位不对"
        first_row.setdefault(row.household_no, row.row)
        if problem:
            report.rejected.append(ledger.Rejected(row.row, row.household_no, problem))
            continue
        assert household is not None
        existing = known.cases.get(household.pk, [])
        if any(_same_import(c, row) for c in existing):
            report.unchanged += 1
        elif existing:
            case = existing[0]
            origin = "已由台账导入，但与本行不同，未更改" if case.source else f"已有本系统案件 #{case.pk}"
            report.reported.append(
                ledger.Rejected(
                    row.row, row.household_no, f"{origin}（{case.get_state_display()}），未重复建立"
                )
            )
        else:
            out.append((row, household))
    return out


# --- writing -----------------------------------------------------------------------------------------


def match_measure(item: ledger.MeasureText, types: list[MeasureType]) -> tuple[MeasureType | None, bool]:
    """The county toolbox entry for a measure as the 台账 wrote it: (type, exact). By name first, then a
    name containing the other, then the toolbox's first entry of the same category (the nearest type)."""
    for t in types:
        if t.name == item.name:
            return t, True
    containing = [t for t in types if t.name in item.name or item.name in t.name]
    if containing:
        return max(containing, key=lambda t: len(t.name)), False
    category = CATEGORY_BY_LABEL.get(item.category, item.category)
    same = sorted((t for t in types if t.category == category), key=lambda t: (-t.priority, t.code))
    if same:
        return same[0], False
    others = [t for t in types if t.category == Category.OTHER]
    return (others[0], False) if others else (None, False)


def _responsibles(county: Region) -> dict[str, list[User]]:
    by_name: dict[str, list[User]] = defaultdict(list)
    for user in User.objects.filter(region__prefix__startswith=county.prefix, is_active=True):
        for name in {user.full_name, user.username} - {""}:
            by_name[name].append(user)
    return by_name


def _responsible(name: str, village_id: str, people: dict[str, list[User]]) -> User | None:
    """The one active user of that name whose region covers the village; none if unknown or ambiguous."""
    fits = [u for u in people.get(name, []) if village_id.startswith(str(u.region_id))]
    return fits[0] if len(fits) == 1 else None


def _identification(household: Household, row: ledger.LedgerRow, actor: User | None) -> Case:
    assert row.identified_on is not None
    at = _local_midnight(row.identified_on)
    return Case(
        kind=Kind.IDENTIFICATION,
        household=household,
        village_id=household.village_id,
        state=State.MONITORED,
        category=row.category,
        risk_types=";".join(row.risk_types[:5]),
        green_channel=row.green_channel,
        monitored_at=at,
        found_at=at,
        opened_at=at,
        deadline_at=at,
        opened_by=actor,
        source=SOURCE_NATIONAL,
    )


def _elimination(case: Case, row: ledger.LedgerRow, actor: User | None, now: dt.datetime) -> Case:
    when = _local_midnight(row.eliminated_on) if row.eliminated_on else now
    return Case(
        kind=Kind.ELIMINATION,
        household_id=case.household_id,
        village_id=case.village_id,
        identification=case,
        state=State.ELIMINATED if row.state == "eliminated" else State.HELD,
        found_at=when,
        opened_at=when,
        deadline_at=when,
        decided_at=when,
        opened_by=actor,
        source=SOURCE_NATIONAL,
    )


def _cases(
    accepted: list[tuple[ledger.LedgerRow, Household]],
    *,
    actor: User | None,
    now: dt.datetime,
    file_name: str,
) -> list[Case]:
    """The identification cases (and elimination cases) of the rows, each with its step "导入"."""
    cases = Case.objects.bulk_create([_identification(h, row, actor) for row, h in accepted])
    ended = [(row, case) for (row, _), case in zip(accepted, cases, strict=True) if row.state != "monitored"]
    eliminations = Case.objects.bulk_create([_elimination(case, row, actor, now) for row, case in ended])
    where = {
        case.pk: f"导入：{PROVENANCE}（{file_name} 第 {row.row} 行）"
        for (row, _), case in zip(accepted, cases, strict=True)
    }
    steps = [
        _step(case, actor, now, f"{where[case.pk]}，识别时间 {row.identified_on}", row.original)
        for (row, _), case in zip(accepted, cases, strict=True)
    ]
    for (row, case), elimination in zip(ended, eliminations, strict=True):
        label = f"风险消除时间 {row.eliminated_on}" if row.eliminated_on else "暂缓消除，继续监测"
        steps.append(_step(elimination, actor, now, f"{where[case.pk]}，{label}", {}))
    CaseStep.objects.bulk_create(steps)
    return cases


def _step(case: Case, actor: User | None, now: dt.datetime, note: str, data: dict[str, Any]) -> CaseStep:
    return CaseStep(
        case=case,
        action="import",
        from_state="",
        to_state=case.state,
        actor=actor,
        at=now,
        note=note,
        data=data,
    )


@dataclass
class _Context:
    actor: User | None
    types: list[MeasureType]
    people: dict[str, list[User]]
    heads: dict[int, int]  # household id → the head's person id (for measures given to a person)
    report: Report


def _plan(case: Case, row: ledger.LedgerRow, ctx: _Context) -> AssistancePlan:
    responsible = _responsible(row.responsible, str(case.village_id), ctx.people) if row.responsible else None
    ctx.report.counts["responsible_matched" if responsible else "responsible_unmatched"] += bool(
        row.responsible
    )
    unmatched = [item.text for item in row.measures if match_measure(item, ctx.types)[0] is None]
    if unmatched:
        ctx.report.counts["measures_unmatched"] += len(unmatched)
    summary = f"由{PROVENANCE}监测对象台账导入"
    return AssistancePlan(
        case=case,
        household_id=case.household_id,
        village_id=case.village_id,
        responsible=responsible,
        responsible_name="" if responsible else row.responsible[:60],
        summary=summary + ("；工具箱中无对应措施（原文保留）：" + "；".join(unmatched) if unmatched else ""),
        created_by=ctx.actor,
    )


def _measures(plan: AssistancePlan, row: ledger.LedgerRow, ctx: _Context) -> list[Measure]:
    assert row.identified_on is not None
    out = []
    for item in row.measures:
        measure_type, exact = match_measure(item, ctx.types)
        if measure_type is None:
            continue
        ctx.report.counts["measures_matched" if exact else "measures_nearest"] += 1
        ended = item.status in (MeasureStatus.DONE, MeasureStatus.STOPPED)
        out.append(
            Measure(
                plan=plan,
                measure_type=measure_type,
                person_id=ctx.heads.get(plan.household_id) if measure_type.per_person else None,
                start_date=row.identified_on,
                end_date=(row.eliminated_on or row.identified_on) if ended else None,
                responsible=plan.responsible,
                status=item.status,
                source_text=item.text[:200],
                note="" if exact else f"台账原文：{item.text}（按最接近的工具箱措施登记）",
            )
        )
    if out and row.income_gained is not None:
        out[0].income_gained = Decimal(str(row.income_gained))
    return out


def _heads(households: list[int]) -> dict[int, int]:
    heads: dict[int, int] = {}
    for part in _chunks([str(h) for h in households]):
        heads.update(
            Membership.objects.filter(
                household_id__in=part, end_date__isnull=True, relation=Relation.HEAD
            ).values_list("household_id", "person_id")
        )
    return heads


@transaction.atomic
def _write(
    accepted: list[tuple[ledger.LedgerRow, Household]],
    county: Region,
    *,
    actor: User | None,
    username: str,
    file_name: str,
    report: Report,
    progress: Callable[[int], None] | None,
) -> None:
    """Set-based, a chunk at a time (a county's file has thousands of rows)."""
    if accepted and not MeasureType.objects.filter(county=county).exists():
        report.counts["toolbox_seeded"] = seed_toolbox(county, actor=actor)
    ctx = _Context(
        actor=actor,
        types=list(toolbox(county.prefix).filter(active=True)),
        people=_responsibles(county),
        heads=_heads([h.pk for _, h in accepted]),
        report=report,
    )
    now = timezone.now()
    for start in range(0, len(accepted), CHUNK):
        part = accepted[start : start + CHUNK]
        cases = _cases(part, actor=actor, now=now, file_name=file_name)
        plans = AssistancePlan.objects.bulk_create(
            [_plan(case, row, ctx) for (row, _), case in zip(part, cases, strict=True)]
        )
        Measure.objects.bulk_create(
            [m for (row, _), plan in zip(part, plans, strict=True) for m in _measures(plan, row, ctx)]
        )
        report.created += len(part)
        report.eliminated += sum(row.state == "eliminated" for row, _ in part)
        report.held += sum(row.state == "held" for row, _ in part)
        if progress:
            progress(start + len(part))
    record(
        Event.ROSTER_IMPORTED,
        actor=actor,
        username=username,
        object_type="region",
        object_id=county.prefix,
        data={"file": file_name[:200], **report.as_dict()},
    )


def import_ledger(
    path: Path,
    county: Region,
    *,
    actor: User | None = None,
    username: str = "",
    file_name: str = "",
    job: RosterImport | None = None,
) -> Report:
    """Read, check and import a county's 台账 (see the module docstring). Raises AssistanceError for a
    request or a file that cannot be read at all; bad rows never raise, they are reported."""
    check_county(county, actor)
    name = file_name or path.name
    try:
        rows, rejected, read = ledger.read(path)
    except ledger.LedgerError as exc:
        raise AssistanceError(str(exc)) from exc
    report = Report(read=read, rejected=list(rejected))
    total = len(rows)

    def progress(done: int) -> None:
        if job is not None:
            RosterImport.objects.filter(pk=job.pk).update(done=done, total=total)

    progress(0)
    accepted = check_rows(rows, county, report)
    report.rejected.sort(key=lambda r: r.row)
    _write(
        accepted,
        county,
        actor=actor,
        username=username or getattr(actor, "username", ""),
        file_name=name,
        report=report,
        progress=progress,
    )
    return report


# --- the background job behind the page ------------------------------------------------------------


def uploads_dir() -> Path:
    from django.conf import settings

    return Path(settings.FANGPIN_INCOMING) / "onboarding"


@transaction.atomic
def request_import(content: bytes, file_name: str, *, actor: User) -> RosterImport:
    """Keep the uploaded file and queue its import (large county files take a while)."""
    from fangpin.assistance.tasks import onboard

    county = Region.objects.filter(prefix=str(actor.region_id)[:6], level=Level.COUNTY).first()
    if county is None:
        raise AssistanceError("只有县级审批员可以导入监测对象台账")
    check_county(county, actor)
    if not content:
        raise AssistanceError("请选择台账文件（.xlsx）")
    job = RosterImport.objects.create(
        requested_by=actor, operator=actor.username, county=county, file_name=file_name[:200]
    )
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"ledger-{job.pk}.xlsx"
    stored.write_bytes(content)
    RosterImport.objects.filter(pk=job.pk).update(stored_path=str(stored))
    transaction.on_commit(lambda: onboard.enqueue(job.pk))
    return job


def run_import(job_id: int) -> str:
    job = RosterImport.objects.select_related("requested_by", "county").get(pk=job_id)
    RosterImport.objects.filter(pk=job_id).update(status=ExportStatus.RUNNING)
    path = Path(job.stored_path)
    try:
        report = import_ledger(
            path, job.county, actor=job.requested_by, username=job.operator, file_name=job.file_name, job=job
        )
    except AssistanceError as exc:
        RosterImport.objects.filter(pk=job_id).update(
            status=ExportStatus.FAILED, message=str(exc)[:500], finished_at=timezone.now()
        )
        record(
            Event.ROSTER_IMPORT_REFUSED,
            actor=job.requested_by,
            username=job.operator,
            outcome=Outcome.FAILURE,
            object_type="roster_import",
            object_id=job.pk,
            reason=str(exc)[:500],
        )
        return "failed"
    except Exception:
        log.exception("roster import %s failed", job_id)
        RosterImport.objects.filter(pk=job_id).update(
            status=ExportStatus.FAILED,
            message="导入失败（系统错误，已记录日志），未写入任何案件",
            finished_at=timezone.now(),
        )
        raise
    finally:
        path.unlink(missing_ok=True)
    RosterImport.objects.filter(pk=job_id).update(
        status=ExportStatus.DONE,
        total=report.read,
        done=report.read,
        counts=report.as_dict(),
        rejected=[vars(r) for r in report.rejected],
        reported=[vars(r) for r in report.reported],
        finished_at=timezone.now(),
    )
    return "done"
