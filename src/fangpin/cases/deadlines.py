"""Time limits: from the day a lead is found to the decision, normally 15 calendar days (POLICY.md).

A county (or any region) sets its own limit; lower levels inherit the nearest ancestor's rule. The
working-day variant counts China's official working days (`holidays.py`: the schedule an administrator
entered, else the `chinese_calendar` package, else Monday–Friday, shown as provisional). Escalation notices go to the next level before the deadline and
once more when it has passed — each only once per deadline (`Escalation` rows make it idempotent).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.urls import reverse
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import Can, Role
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases.holidays import WorkingCalendar, parse_schedule, replace_year
from fangpin.cases.models import Case, CaseStep, DeadlineRule, Escalation
from fangpin.cases.transitions import DECIDED_STATES, STATE_LABELS, STATE_LEVEL, Level, State
from fangpin.kernel import outermost
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


@outermost
def set_rule(
    region_id: str, *, actor: User, days: int, working_days: bool, escalate_days_before: int
) -> DeadlineRule:
    """A county sets its time limit (its townships and villages inherit it); new cases use it."""
    if not actor.can(Can.MANAGE_TOOLBOX) or not region_id.startswith(str(actor.region_id)):
        raise PermissionDenied("您无权设置该地区的办理时限")
    values = {"days": days, "working_days": working_days, "escalate_days_before": escalate_days_before}
    rule, _ = DeadlineRule.objects.update_or_create(
        region_id=region_id, defaults={**values, "updated_by": actor}
    )
    record(Event.CASE_DEADLINE_RULE_SET, actor=actor, object_type="region", object_id=region_id, data=values)
    return rule


def is_working_day(day: dt.date) -> bool:
    """An official working day (the entered schedule, else the package, else Monday–Friday)."""
    return WorkingCalendar().is_working_day(day)


def calendar_known(year: int) -> bool:
    """False when neither an entered schedule nor the package knows the year (weekdays are a guess)."""
    return WorkingCalendar().known(year)


def add_days(
    start: dt.date, days: int, *, working_days: bool, calendar: WorkingCalendar | None = None
) -> dt.date:
    """The last day of the limit: `days` after `start` (the day found does not count)."""
    if not working_days:
        return start + dt.timedelta(days=days)
    calendar = calendar or WorkingCalendar()
    day, counted = start, 0
    while counted < days:
        day += dt.timedelta(days=1)
        if calendar.is_working_day(day):
            counted += 1
    return day


def deadline_for(
    found_at: dt.datetime, rule: Rule, *, calendar: WorkingCalendar | None = None
) -> dt.datetime:
    """End of the last day (Asia/Shanghai) of the limit."""
    last = add_days(
        found_at.astimezone(LOCAL).date(), rule.days, working_days=rule.working_days, calendar=calendar
    )
    return dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=LOCAL)


# --- years without a holiday schedule ------------------------------------------------------------

# The settings page looks this far ahead: a working-day limit set today reaches about this far.
SETTINGS_LOOKAHEAD_DAYS = 60


def unknown_years(first: dt.date, last: dt.date, calendar: WorkingCalendar | None = None) -> list[int]:
    """The years between two days (inclusive) whose working days are only estimated."""
    calendar = calendar or WorkingCalendar()
    return [y for y in range(first.year, last.year + 1) if not calendar.known(y)]


def provisional_notice(years: list[int]) -> str:
    """ "2027年节假日安排尚未录入，工作日时限按周一至周五估算" ("" when every year is known)."""
    if not years:
        return ""
    return f"{'、'.join(str(y) for y in years)}年节假日安排尚未录入，工作日时限按周一至周五估算"


def case_provisional_years(case: Case, rule: Rule) -> list[int]:
    """Unknown years inside a running working-day case's limit (from the day found to the deadline)."""
    if not rule.working_days or clock(case).stopped:
        return []
    return unknown_years(case.found_at.astimezone(LOCAL).date(), case.deadline_at.astimezone(LOCAL).date())


# --- entering a year's schedule ------------------------------------------------------------------


@dataclass
class RecomputeReport:
    checked: int = 0  # running working-day cases whose limit touches the year
    changed: int = 0
    rule_changed: int = 0  # left alone: the region's rule changed after the case was opened


@dataclass
class LoadReport:
    year: int
    holidays: int
    working_days: int
    replaced: int  # rows the year had before (0 the first time)
    recomputed: RecomputeReport | None


@transaction.atomic
def load_holidays(
    text: str, *, actor: User | None = None, username: str = "", recompute: bool = False
) -> LoadReport:
    """Enter (or replace) one year's official schedule; nothing is written if the file is wrong.
    With `recompute`, the running cases whose working-day limit touches the year get new deadlines."""
    schedule = parse_schedule(text)
    entered_by = username or (actor.username if actor else "")
    replaced = replace_year(schedule, entered_by=entered_by)
    report = LoadReport(
        schedule.year,
        schedule.count("holiday"),
        schedule.count("working"),
        replaced,
        None,
    )
    record(
        Event.CASE_HOLIDAYS_LOADED,
        actor=actor,
        username=username,
        object_type="holiday_year",
        object_id=schedule.year,
        data={
            "notice": schedule.notice,
            "holidays": report.holidays,
            "working_days": report.working_days,
            "replaced": replaced,
        },
    )
    if recompute:
        report.recomputed = recompute_deadlines(schedule.year, actor=actor, username=username)
    return report


def _rule_at_opening(case: Case) -> tuple[str, str] | None:
    step = CaseStep.objects.filter(case=case, action="open").order_by("at", "id").first()
    return (str(step.data.get("rule", "")), str(step.data.get("rule_region", ""))) if step else None


@transaction.atomic
def recompute_deadlines(year: int, *, actor: User | None = None, username: str = "") -> RecomputeReport:
    """New deadlines for running cases under a working-day rule whose limit touches `year` (after its
    schedule was entered). A case is left alone when its region's rule changed after it was opened: a
    rule change applies to new cases only (the settings page says so). Each change is a case step and
    an audit row; escalation notices follow the new deadline."""
    report = RecomputeReport()
    calendar = WorkingCalendar()
    rules: dict[str, Rule] = {}
    earliest = dt.datetime.combine(dt.date(year - 1, 12, 25), dt.time(), tzinfo=LOCAL)  # see holidays.py
    after = dt.datetime.combine(dt.date(year + 1, 1, 1), dt.time(), tzinfo=LOCAL)
    candidates = running(Case.objects.filter(found_at__lt=after, deadline_at__gte=earliest))
    for case in candidates.select_for_update(of=("self",)).order_by("pk"):
        rule = rules.setdefault(case.village_id, rule_for(str(case.village_id)))
        if not rule.working_days:
            continue
        report.checked += 1
        if _rule_at_opening(case) != (rule.describe(), rule.region_id):
            report.rule_changed += 1
            continue
        new = deadline_for(case.found_at, rule, calendar=calendar)
        if new == case.deadline_at:
            continue
        old = case.deadline_at
        case.deadline_at = new
        case.save(update_fields=["deadline_at", "updated_at"])  # not `version`: no open form goes stale
        old_day, new_day = f"{old.astimezone(LOCAL):%Y-%m-%d}", f"{new.astimezone(LOCAL):%Y-%m-%d}"
        CaseStep.objects.create(
            case=case,
            action="deadline_recomputed",
            from_state=case.state,
            to_state=case.state,
            level="",
            actor=None,  # the system, on the administrator's load of the schedule (the audit row names them)
            at=timezone.now(),
            note=f"录入{year}年节假日安排，办结时限由 {old_day} 改为 {new_day}",
            data={"year": year, "old": old_day, "new": new_day},
        )
        record(
            Event.CASE_DEADLINE_RECOMPUTED,
            actor=actor,
            username=username,
            object_type="case",
            object_id=case.pk,
            data={"year": year, "old": old_day, "new": new_day},
        )
        report.changed += 1
    log.info("deadlines recomputed for %s: %s", year, report)
    return report


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
                    Event.CASE_ESCALATED,
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
