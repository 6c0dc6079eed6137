"""Assistance for `make demo`: every household the demo county has monitored gets its 一户一策 plan, the
suggested measures (some finished with a recorded effect), and monthly follow-up visits.

Measures come from the county's toolbox through the same suggestion ranking and actions a cadre uses;
dates are set back to follow the household's monitoring date. Figures (income gained, per-capita income
at visits) are simulated, deterministic for a seed."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import Role
from fangpin.assistance import actions
from fangpin.assistance.models import AssistancePlan, Category, MeasureStatus, MeasureType
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases.models import Case
from fangpin.cases.monitoring import identified
from fangpin.regions.models import Region
from fangpin.registry.models import Membership, Person, Relation

FINDINGS = [
    "户主在本县就业帮扶车间务工，收入稳定",
    "医疗救助已到账，慢病按时复诊",
    "子女在读中职，雨露计划补助已申请",
    "种植脐橙 3 亩，长势良好",
    "公益性岗位按月上岗，家庭开支有保障",
]


def _cadre(village_id: str) -> User | None:
    """Who plans: the village cadre, else the township reviewer (the cases demo creates both)."""
    for role, region in ((Role.VILLAGE_CADRE, village_id), (Role.TOWNSHIP_REVIEWER, village_id[:9])):
        user = User.objects.filter(role=role, region_id=region, is_active=True).order_by("pk").first()
        if user:
            return user
    return None


def _visitor(village_id: str, fallback: User) -> User:
    grid = (
        User.objects.filter(role=Role.GRID_WORKER, region_id=village_id, is_active=True)
        .order_by("pk")
        .first()
    )
    return grid or fallback


def _person_for(plan: AssistancePlan, measure_type: MeasureType) -> Person | None:
    if not measure_type.per_person:
        return None
    members = list(plan.household.memberships.filter(end_date__isnull=True).select_related("person"))
    if measure_type.category == "education":  # a child of school age if there is one
        children = [m for m in members if m.relation == Relation.CHILD]
        if children:
            return children[0].person
    head = next((m for m in members if m.relation == Relation.HEAD), members[0] if members else None)
    return head.person if head else None


def _plan(case: Case, cadre: User) -> AssistancePlan:
    if actions.is_monitored(case):
        return actions.create_plan(case, actor=cadre, responsible=cadre, summary="按致贫风险逐项落实帮扶措施")
    # Eliminated since: the plan was made while the household was monitored (the action refuses now).
    with transaction.atomic():
        plan = AssistancePlan.objects.create(
            case=case,
            household_id=case.household_id,
            village_id=case.village_id,
            responsible=cadre,
            summary="按致贫风险逐项落实帮扶措施",
            created_by=cadre,
        )
        record(
            Event.PLAN_CREATED,
            actor=cadre,
            object_type="assistance_plan",
            object_id=plan.pk,
            data={"case": case.pk},
        )
    return plan


def populate(county: str, *, now: dt.datetime | None = None, seed: int = 1) -> Counter[str]:
    """Plans, measures and visits for every household of `county` that has been monitored and has no plan
    yet (idempotent). Loads the default toolbox first if the county has none. Returns counts."""
    now = now or timezone.now()
    rng = random.Random(seed)
    made: Counter[str] = Counter()
    county_region = Region.objects.get(prefix=county)
    if not actions.toolbox(county).exists():
        made["toolbox"] = actions.seed_toolbox(county_region)
    cases = (
        identified(Case.objects.filter(village__prefix__startswith=county, plan__isnull=True))
        .select_related("household")
        .order_by("pk")
    )
    today = timezone.localdate(now)
    for case in cases:
        cadre = _cadre(case.village_id)
        if cadre is None or case.monitored_at is None:
            continue
        # each action below is its own transaction (they are outermost: fangpin.kernel)
        plan = _plan(case, cadre)
        made["plans"] += 1
        start = timezone.localdate(case.monitored_at) + dt.timedelta(days=3)
        for measure_type, _ in actions.suggestions(plan, limit=3):
            measure = actions.add_measure(
                plan,
                actor=cadre,
                measure_type=measure_type,
                person=_person_for(plan, measure_type),
                start_date=min(start, today),
                responsible=cadre,
            )
            made["measures"] += 1
            age = (today - measure.start_date).days
            if age > 60 and rng.random() < 0.5:  # some have run long enough to show an effect
                actions.update_measure(
                    measure,
                    actor=cadre,
                    expected_version=measure.version,
                    status=MeasureStatus.DONE
                    if not measure_type.continues_after_elimination
                    else MeasureStatus.ACTIVE,
                    effect=f"{measure_type.name}已落实",
                    income_gained=Decimal(rng.randrange(1200, 6000, 100)),
                )
                made["effects"] += 1
        income = Decimal(rng.randrange(6800, 8400, 50))
        visitor = _visitor(case.village_id, cadre)
        visited = start + dt.timedelta(days=30)
        while visited <= today and made["visits_" + str(case.pk)] < 6:
            actions.record_visit(
                plan,
                actor=visitor,
                visited_on=visited,
                findings=rng.choice(FINDINGS),
                income_per_capita=income,
            )
            income += Decimal(rng.randrange(100, 400, 50))
            made["visits_" + str(case.pk)] += 1
            made["visits"] += 1
            visited += dt.timedelta(days=30)
    return Counter({k: v for k, v in made.items() if not k.startswith("visits_")})


# --- the county's existing 监测对象台账, as the national system would export it --------------------------


def write_ledger(county: str, synth_dir: Path, out: Path, *, seed: int = 1) -> int:
    """The demo county's 台账 in xlsx, from what the simulator delivered: every household the latest
    ag_roster (in the lake) marks as monitored or eliminated, with its category; the head, village and
    household from the registry; risk types from the simulator's record of the household (its truth, the
    stand-in for the national system's file); measures from the default toolbox's best match for them.
    The roster carries no dates: identification and elimination dates are drawn, deterministic for a seed,
    from the two years before the simulated months. Returns the number of households written."""
    from fangpin.assistance import roster
    from fangpin.exchange.actions import lake
    from fangpin.lib.masking import mask_id_number, mask_name
    from fangpin.lib.periods import recent_periods
    from fangpin.lib.risks import CATEGORIES, MAX_RISK_TYPES, RISK_TYPES
    from fangpin.lib.spreadsheet import Workbook
    from fangpin.registry.models import Household

    period = recent_periods(1, timezone.localdate())[0]
    table = lake().read("ag_roster", period, columns=["household_no", "monitor_status", "monitor_category"])
    listed = {
        r["household_no"]: r for r in table.to_pylist() if r["monitor_status"] in ("monitored", "eliminated")
    }
    risks = _truth_risks(synth_dir, set(listed))
    households = (
        Household.objects.filter(household_no__in=list(listed), village__prefix__startswith=county)
        .select_related("village__parent__parent")
        .order_by("village_id", "household_no")
    )
    heads = {
        m.household_id: m.person
        for m in Membership.objects.filter(
            household__in=households, end_date__isnull=True, relation=Relation.HEAD
        ).select_related("person")
    }
    toolbox = actions.load_toolbox()
    labels = dict(Category.choices)
    rng = random.Random(seed)
    first = dt.date.fromisoformat(f"{recent_periods(3, timezone.localdate())[0]}-01")
    book = Workbook()
    sheet = book.active
    sheet.title = "监测对象台账"
    sheet.append(
        [f"{Region.objects.get(prefix=county).name} 防止返贫致贫监测对象台账（全国防返贫监测信息系统导出）"]
    )
    sheet.append([f"导出时间 {first - dt.timedelta(days=1)}；证件号码已脱敏"])
    sheet.append([header for header, _ in roster.COLUMNS])
    written = 0
    for household in households:
        entry, head = listed[household.household_no], heads.get(household.pk)
        codes = [c for c in risks.get(household.household_no, []) if c in RISK_TYPES][:MAX_RISK_TYPES] or [
            "99"
        ]
        identified = first - dt.timedelta(days=rng.randint(60, 900))
        eliminated = entry["monitor_status"] == "eliminated"
        measures = [
            f"{labels[m['category']]}-{m['name']}（{'已完成' if eliminated else '实施中'}）"
            for m in toolbox
            if set(m["risk_types"].split(";")) & set(codes)
        ][:2]
        village = household.village
        values = {
            "county": village.parent.parent.name if village.parent and village.parent.parent else "",
            "township": village.parent.name if village.parent else "",
            "village": village.name,
            "household_no": household.household_no,
            "head_name": mask_name(head.name) if head else "",
            "head_id": mask_id_number(head.id_number) if head else "",
            "members": household.memberships.filter(end_date__isnull=True).count(),
            "household_type": "脱贫户" if household.household_type == "former_poor" else "一般农户",
            "category": CATEGORIES.get(entry["monitor_category"] or "", "边缘易致贫户"),
            **{f"risk_{i}": f"{c} {RISK_TYPES[c]}" for i, c in enumerate(codes, start=1)},
            "identified_on": identified,
            "green_channel": "否",
            "measures": "；".join(measures),
            "elimination_status": "已消除风险" if eliminated else "未消除（监测中）",
            "eliminated_on": identified + (first - identified) * rng.randint(3, 9) // 10
            if eliminated
            else None,
        }
        sheet.append([values.get(key) for _, key in roster.COLUMNS])
        written += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return written


def _truth_risks(synth_dir: Path, numbers: set[str]) -> dict[str, list[str]]:
    """Risk type codes per household from the simulator's latest month that names any (01…99)."""
    import pyarrow.parquet as pq

    path = synth_dir / "truth" / "household_month.parquet"
    if not path.exists():
        return {}
    table = pq.read_table(path, columns=["household_no", "period", "risk_types"])
    found: dict[str, tuple[str, list[str]]] = {}
    for row in table.to_pylist():
        codes = sorted({str(c)[:2] for c in row["risk_types"] or []})
        if (
            row["household_no"] in numbers
            and codes
            and row["period"] >= found.get(row["household_no"], ("",))[0]
        ):
            found[row["household_no"]] = (row["period"], codes)
    return {k: v for k, (_, v) in found.items()}
