"""Time limits: from the day a lead is found to the decision, normally 15 calendar days (POLICY.md).

A county (or any region) sets its own limit; lower levels inherit the nearest ancestor's rule. The
working-day variant counts China's official working days (`chinese_calendar`: public holidays off,
adjusted weekend working days on). Escalation notices go to the next level before the deadline and
once more when it has passed — each only once per deadline (`Escalation` rows make it idempotent).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]
from django.db import IntegrityError, models, transaction
from django.urls import reverse
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import Role
from fangpin.audit.actions import record
from fangpin.cases.models import Case, DeadlineRule, Escalation
from fangpin.cases.transitions import DECIDED_STATES, STATE_LABELS, STATE_LEVEL, Level, State
from fangpin.regions.models import Region

log = logging.getLogger(__name__)
LOCAL = ZoneInfo("Asia/Shanghai")
DEFAULT_DAYS = 15
DEFAULT_ESCALATE_BEFORE = 3


@dataclass(frozen=True)
class Rule:
    days: int = DEFAULT_DAYS
    working_days: bool = False
    escalate_days_before: int = DEFAULT_ESCALATE_BEFORE
    region_id: str = ""  # where the rule was set ("" = the national default)

    def describe(self) -> str:
        unit = "个工作日" if self.working_days else "个自然日"
        return f"{self.days}{unit}"


def rule_for(region_prefix: str) -> Rule:
    """The nearest rule at or above the region (a village inherits its township's, then its county's)."""
    ancestors = [region_prefix[:n] for n in range(2, len(region_prefix) + 1)]
    found = DeadlineRule.objects.filter(region_id__in=ancestors).order_by("region_id")
    best = max(found, key=lambda r: len(str(r.region_id)), default=None)
    if best is None:
        return Rule()
    return Rule(best.days, best.working_days, best.escalate_days_before, str(best.region_id))


def is_working_day(day: dt.date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The package covers the years the State Council has published; later years fall back to weekdays.
        return day.weekday() < 5


def add_days(start: dt.date, days: int, *, working_days: bool) -> dt.date:
    """The last day of the limit: `days` after `start` (the day found does not count)."""
    if not working_days:
        return start + dt.timedelta(days=days)
    day, counted = start, 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def deadline_for(found_at: dt.datetime, rule: Rule) -> dt.datetime:
    """End of the last day (Asia/Shanghai) of the limit."""
    last = add_days(found_at.astimezone(LOCAL).date(), rule.days, working_days=rule.working_days)
    return dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=LOCAL)


@dataclass(frozen=True)
class Clock:
    deadline_at: dt.datetime
    days_left: int  # negative when overdue
    overdue: bool
    stopped: bool  # decided: the clock no longer runs

    @property
    def label(self) -> str:
        if self.stopped:
            return "已决定" + ("（超期办结）" if self.overdue else "（按期）")
        if self.overdue:
            return f"已超期 {-self.days_left} 天"
        if self.days_left == 0:
            return "今天到期"
        return f"剩余 {self.days_left} 天"

    @property
    def tone(self) -> str:  # Tabler colour for the badge
        if self.overdue:
            return "red"
        if self.stopped:
            return "green"
        return "orange" if self.days_left <= DEFAULT_ESCALATE_BEFORE else "blue"


def clock(case: Case, now: dt.datetime | None = None) -> Clock:
    now = now or timezone.now()
    stopped = case.state in DECIDED_STATES or case.decided_at is not None
    end = case.decided_at if stopped and case.decided_at else now
    days_left = (case.deadline_at.astimezone(LOCAL).date() - end.astimezone(LOCAL).date()).days
    return Clock(case.deadline_at, days_left, end > case.deadline_at, stopped)


def running(queryset: models.QuerySet[Case]) -> models.QuerySet[Case]:
    """Cases whose clock runs (not yet decided)."""
    return queryset.exclude(state__in=[str(s) for s in DECIDED_STATES]).filter(decided_at__isnull=True)


def overdue(queryset: models.QuerySet[Case], now: dt.datetime | None = None) -> models.QuerySet[Case]:
    return running(queryset).filter(deadline_at__lt=now or timezone.now())


def level_of_case(case: Case) -> Level:
    state = State(case.return_to) if case.state == State.RETURNED and case.return_to else State(case.state)
    return STATE_LEVEL.get(state, Level.VERIFY)


def supervisors(case: Case, level: Level) -> tuple[Level, list[User]]:
    """The next level up from where the case waits: township reviewers above a village step, county
    approvers above a township step (and the county itself for its own step)."""
    village: Region = case.village
    township = village.parent_id or village.prefix[:9]
    county = (
        Region.objects.filter(prefix=township).values_list("parent_id", flat=True).first() or township[:6]
    )
    if level in (Level.VERIFY, Level.VILLAGE, Level.SYSTEM):
        target, role, region = Level.TOWNSHIP, Role.TOWNSHIP_REVIEWER, township
    else:
        target, role, region = Level.COUNTY, Role.COUNTY_APPROVER, county
    people = list(User.objects.filter(role=role, region_id=region, is_active=True))
    return target, people


@dataclass
class EscalationReport:
    due_soon: int = 0
    overdue: int = 0
    already_sent: int = 0


def escalate(now: dt.datetime | None = None) -> EscalationReport:
    """Send the due-soon and overdue notices that have not been sent for the current deadline."""
    from fangpin.notifications.actions import notify

    now = now or timezone.now()
    report = EscalationReport()
    rules: dict[str, Rule] = {}
    for case in running(Case.objects.all()).select_related("village", "household"):
        rule = rules.setdefault(case.village_id, rule_for(str(case.village_id)))
        if now >= case.deadline_at:
            kind = Escalation.Kind.OVERDUE
        elif now >= case.deadline_at - dt.timedelta(days=rule.escalate_days_before):
            kind = Escalation.Kind.DUE_SOON
        else:
            continue
        if Escalation.objects.filter(case=case, kind=kind, deadline_at=case.deadline_at).exists():
            report.already_sent += 1
            continue
        level, people = supervisors(case, level_of_case(case))
        state = STATE_LABELS[
            case.return_to if case.state == State.RETURNED and case.return_to else case.state
        ]
        days = (case.deadline_at.astimezone(LOCAL).date() - now.astimezone(LOCAL).date()).days
        title = (
            f"案件超期：{case.village.name} 户 {case.household.household_no[-4:]}（{state}）已超期 {-days} 天"
            if kind == Escalation.Kind.OVERDUE
            else f"即将到期：{case.village.name} 户 {case.household.household_no[-4:]}（{state}）剩余 {days} 天"
        )
        try:
            with transaction.atomic():
                Escalation.objects.create(
                    case=case,
                    kind=kind,
                    deadline_at=case.deadline_at,
                    level=level,
                    recipients=len(people),
                    sent_at=now,
                )
                notify(
                    people,
                    title,
                    f"办结时限 {case.deadline_at.astimezone(LOCAL):%Y-%m-%d}，当前环节：{state}。",
                    reverse("cases:case_detail", kwargs={"pk": case.pk}),
                    verb=f"case_{kind}",
                    target=case,
                )
                record(
                    "CASE_ESCALATED",
                    object_type="case",
                    object_id=case.pk,
                    data={"kind": str(kind), "level": str(level), "recipients": len(people)},
                )
        except IntegrityError:  # a concurrent run sent it first
            report.already_sent += 1
            continue
        if kind == Escalation.Kind.OVERDUE:
            report.overdue += 1
        else:
            report.due_soon += 1
    log.info("escalation: %s", report)
    return report
