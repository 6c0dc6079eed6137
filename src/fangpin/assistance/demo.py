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

from django.db import transaction
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import Role
from fangpin.assistance import actions
from fangpin.assistance.models import AssistancePlan, MeasureStatus, MeasureType
from fangpin.audit.actions import record
from fangpin.cases.models import Case
from fangpin.cases.transitions import Kind, State
from fangpin.regions.models import Region
from fangpin.registry.models import Person, Relation

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
    plan = AssistancePlan.objects.create(
        case=case,
        household_id=case.household_id,
        village_id=case.village_id,
        responsible=cadre,
        summary="按致贫风险逐项落实帮扶措施",
        created_by=cadre,
    )
    record(
        "PLAN_CREATED", actor=cadre, object_type="assistance_plan", object_id=plan.pk, data={"case": case.pk}
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
        Case.objects.filter(
            kind=Kind.IDENTIFICATION,
            monitored_at__isnull=False,
            village__prefix__startswith=county,
            plan__isnull=True,
        )
        .exclude(state=State.REJECTED)
        .select_related("household")
        .order_by("pk")
    )
    today = timezone.localdate(now)
    for case in cases:
        cadre = _cadre(case.village_id)
        if cadre is None or case.monitored_at is None:
            continue
        with transaction.atomic():
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
