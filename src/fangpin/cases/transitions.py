"""The identification and elimination procedures as an explicit state machine (pure Python, no Django).

Each action moves a case from one state to another; `check` says whether an actor may take it now and,
if not, why (in Chinese, shown as is). `cases/actions.py` applies a checked action in one transaction.

Levels: 入户核实 (grid worker / village cadre) → 村 (village cadre) → 乡镇 (township reviewer) → 县 (county
approver). One person acts at one level of a case only: a village cadre who did the home visit cannot also
chair the village review of the same case (POLICY.md: separation of the steps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fangpin.lib.risks import CATEGORIES, MAX_RISK_TYPES

PUBLICITY_DAYS = 5  # 村内公示 at least five full days
STABLE_MONTHS = 6  # elimination: income above the line for at least six months


class Kind(StrEnum):
    IDENTIFICATION = "identification"
    ELIMINATION = "elimination"


KIND_LABELS = {Kind.IDENTIFICATION: "纳入识别", Kind.ELIMINATION: "风险消除"}


class State(StrEnum):
    VERIFYING = "verifying"
    COMPARING = "comparing"
    VILLAGE_REVIEW = "village_review"
    PUBLICITY = "publicity"
    TOWNSHIP_REVIEW = "township_review"
    COUNTY_APPROVAL = "county_approval"
    ANNOUNCED = "announced"
    MONITORED = "monitored"
    ELIMINATED = "eliminated"
    HELD = "held"
    REJECTED = "rejected"
    RETURNED = "returned"


STATE_LABELS: dict[str, str] = {
    State.VERIFYING: "入户核实",
    State.COMPARING: "信息比对",
    State.VILLAGE_REVIEW: "村级民主评议",
    State.PUBLICITY: "村内公示",
    State.TOWNSHIP_REVIEW: "乡镇审核",
    State.COUNTY_APPROVAL: "县级审批",
    State.ANNOUNCED: "公告",
    State.MONITORED: "已纳入监测",
    State.ELIMINATED: "已消除风险",
    State.HELD: "暂缓消除（继续监测）",
    State.REJECTED: "不予纳入/不予消除",
    State.RETURNED: "退回重办",
}

FINAL_STATES = frozenset({State.MONITORED, State.ELIMINATED, State.HELD, State.REJECTED})
# The clock stops when the county has decided (or the case was rejected/held on the way).
DECIDED_STATES = FINAL_STATES | {State.ANNOUNCED}
# The order of the procedure, for "return to an earlier step".
ORDER = [
    State.VERIFYING,
    State.COMPARING,
    State.VILLAGE_REVIEW,
    State.PUBLICITY,
    State.TOWNSHIP_REVIEW,
    State.COUNTY_APPROVAL,
    State.ANNOUNCED,
]
RETURN_TARGETS = (State.VERIFYING, State.VILLAGE_REVIEW)


class Level(StrEnum):
    VERIFY = "verify"
    VILLAGE = "village"
    TOWNSHIP = "township"
    COUNTY = "county"
    SYSTEM = "system"


LEVEL_LABELS = {
    Level.VERIFY: "入户核实",
    Level.VILLAGE: "村级",
    Level.TOWNSHIP: "乡镇",
    Level.COUNTY: "县级",
    Level.SYSTEM: "系统",
}

STATE_LEVEL: dict[str, Level] = {
    State.VERIFYING: Level.VERIFY,
    State.COMPARING: Level.SYSTEM,
    State.VILLAGE_REVIEW: Level.VILLAGE,
    State.PUBLICITY: Level.VILLAGE,
    State.TOWNSHIP_REVIEW: Level.TOWNSHIP,
    State.COUNTY_APPROVAL: Level.COUNTY,
    State.ANNOUNCED: Level.TOWNSHIP,
}

# The capability (accounts.roles.Can values, as strings: this module does not import Django) per level.
LEVEL_CAPABILITY: dict[Level, str] = {
    Level.VERIFY: "verify_household",
    Level.VILLAGE: "village_review",
    Level.TOWNSHIP: "township_review",
    Level.COUNTY: "county_approve",
}


class Refused(Exception):
    """The action is not allowed now; the message says why, in Chinese."""


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: frozenset[State]
    target: State | None  # None: decided by the action (reject, return, hold, green channel)
    kinds: frozenset[Kind] = frozenset({Kind.IDENTIFICATION, Kind.ELIMINATION})
    level: Level | None = None  # None: the level of the (effective) source state
    needs_reason: bool = False
    counts_for_level: bool = True  # recording an objection is clerical, not a decision at a level


_OPEN = frozenset(ORDER) - {State.COMPARING}
_BOTH = frozenset({Kind.IDENTIFICATION, Kind.ELIMINATION})

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("submit_visit", "提交入户核实", frozenset({State.VERIFYING}), State.COMPARING),
        Transition(
            "compare",
            "信息比对（自动）",
            frozenset({State.COMPARING}),
            State.VILLAGE_REVIEW,
            level=Level.SYSTEM,
        ),
        Transition(
            "village_review", "村级民主评议通过并公示", frozenset({State.VILLAGE_REVIEW}), State.PUBLICITY
        ),
        Transition(
            "record_objection",
            "登记公示异议",
            frozenset({State.PUBLICITY}),
            State.PUBLICITY,
            counts_for_level=False,
        ),
        Transition(
            "end_publicity", "公示期满，报乡镇审核", frozenset({State.PUBLICITY}), State.TOWNSHIP_REVIEW
        ),
        Transition(
            "township_approve", "乡镇审核通过", frozenset({State.TOWNSHIP_REVIEW}), State.COUNTY_APPROVAL
        ),
        Transition("county_approve", "县级审批通过", frozenset({State.COUNTY_APPROVAL}), None),
        Transition(
            "announce",
            "公告并录入监测",
            frozenset({State.ANNOUNCED}),
            State.MONITORED,
            kinds=frozenset({Kind.IDENTIFICATION}),
        ),
        Transition("reject", "不予通过", _OPEN - {State.ANNOUNCED}, State.REJECTED, needs_reason=True),
        Transition(
            "return_for_rework",
            "退回重办",
            frozenset({State.PUBLICITY, State.TOWNSHIP_REVIEW, State.COUNTY_APPROVAL}),
            State.RETURNED,
            needs_reason=True,
        ),
        Transition(
            "hold",
            "暂缓消除，继续监测",
            _OPEN - {State.ANNOUNCED},
            State.HELD,
            kinds=frozenset({Kind.ELIMINATION}),
            needs_reason=True,
        ),
        Transition(
            "green_channel",
            "绿色通道：先帮扶后补程序",
            frozenset({State.VERIFYING, State.VILLAGE_REVIEW, State.PUBLICITY, State.TOWNSHIP_REVIEW}),
            None,
            kinds=frozenset({Kind.IDENTIFICATION}),
            level=Level.TOWNSHIP,
            needs_reason=True,
        ),
    )
}
assert all(t.kinds <= _BOTH for t in TRANSITIONS.values())


@dataclass(frozen=True)
class CaseView:
    """What the machine needs to know about a case."""

    kind: Kind
    state: State
    return_to: State | None = None
    green_channel: bool = False
    publicity_started_at: dt.datetime | None = None


@dataclass(frozen=True)
class Actor:
    id: int
    capabilities: frozenset[str]
    in_scope: bool
    levels_acted: frozenset[Level] = field(default_factory=frozenset)  # levels this person acted at here


def effective_state(case: CaseView) -> State:
    """A returned case waits at the step it was returned to."""
    if case.state == State.RETURNED and case.return_to is not None:
        return case.return_to
    return case.state


def level_of(transition: Transition, case: CaseView) -> Level:
    if transition.level is not None:
        return transition.level
    return STATE_LEVEL.get(effective_state(case), Level.SYSTEM)


def publicity_ends_at(started: dt.datetime) -> dt.datetime:
    return started + dt.timedelta(days=PUBLICITY_DAYS)


def check(case: CaseView, action: str, actor: Actor | None, *, now: dt.datetime) -> Transition:
    """The transition if `actor` (None = the system) may take `action` now; otherwise `Refused`."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise Refused(f"未知的操作：{action}")
    if case.kind not in transition.kinds:
        raise Refused(f"“{transition.label}”不适用于{KIND_LABELS[case.kind]}案件")
    state = effective_state(case)
    if state not in transition.sources:
        raise Refused(f"案件当前处于“{STATE_LABELS[case.state]}”，不能“{transition.label}”")
    if action == "green_channel" and case.green_channel:
        raise Refused("该案件已走绿色通道")
    level = level_of(transition, case)
    if level == Level.SYSTEM:
        if actor is not None:
            raise Refused("信息比对由系统自动完成")
        return transition
    if actor is None:
        raise Refused("该操作须由经办人员完成")
    if not actor.in_scope:
        raise Refused("该案件不在您的管辖范围内")
    needed = LEVEL_CAPABILITY[level]
    if needed not in actor.capabilities:
        raise Refused(f"“{transition.label}”须由{LEVEL_LABELS[level]}人员办理，您的角色无此权限")
    if transition.counts_for_level:
        other = actor.levels_acted - {level, Level.SYSTEM}
        if other:
            done = "、".join(LEVEL_LABELS[lv] for lv in sorted(other))
            raise Refused(f"您已在本案件的{done}环节办理过，同一人不能在两个层级办理同一案件")
    if action == "end_publicity":
        if case.publicity_started_at is None:
            raise Refused("尚未开始公示")
        ends = publicity_ends_at(case.publicity_started_at)
        if now < ends:
            raise Refused(f"公示须满{PUBLICITY_DAYS}天，{ends:%Y-%m-%d %H:%M} 后方可结束")
    return transition


def target_state(case: CaseView, transition: Transition, *, return_to: State | None = None) -> State:
    if transition.action == "county_approve":
        return State.ANNOUNCED if case.kind == Kind.IDENTIFICATION else State.ELIMINATED
    if transition.action == "green_channel":
        return case.state  # help first: the procedure goes on where it stands
    if transition.action == "return_for_rework":
        current = effective_state(case)
        if return_to not in RETURN_TARGETS or ORDER.index(return_to) >= ORDER.index(current):
            allowed = "、".join(
                STATE_LABELS[s] for s in RETURN_TARGETS if ORDER.index(s) < ORDER.index(current)
            )
            raise Refused(f"只能退回到之前的环节（{allowed}）")
        return State.RETURNED
    assert transition.target is not None
    return transition.target


def available(case: CaseView, actor: Actor, *, now: dt.datetime) -> list[Transition]:
    """The actions `actor` may take now (ignores the publicity clock so the button shows with its reason)."""
    found = []
    for action in TRANSITIONS:
        try:
            check(
                case,
                action,
                actor,
                now=now if action != "end_publicity" else dt.datetime.max.replace(tzinfo=dt.UTC),
            )
        except Refused:
            continue
        found.append(TRANSITIONS[action])
    return found


# --- what the forms must say -------------------------------------------------------------------------


def check_decision(
    category: str, risk_types: Iterable[str], known_risk_types: Mapping[str, str]
) -> list[str]:
    """County approval of an identification needs the category and 1–5 risk types."""
    problems = []
    if category not in CATEGORIES:
        problems.append("请选择监测对象类别")
    types = list(dict.fromkeys(risk_types))
    if not 1 <= len(types) <= MAX_RISK_TYPES:
        problems.append(f"风险类型须选择 1 至 {MAX_RISK_TYPES} 项")
    unknown = [t for t in types if t not in known_risk_types]
    if unknown:
        problems.append(f"未知的风险类型：{'、'.join(unknown)}")
    return problems


def elimination_blockers(visit: Mapping[str, Any], comparison: Mapping[str, Any]) -> list[str]:
    """Why a household may not (yet) be marked eliminated (POLICY.md: never with unstable income,
    unresolved 三保障 or water, or a new risk). Income months come from the lake when it knew them."""
    problems = []
    months = comparison.get("months_above_line")
    checked = comparison.get("months_checked") or 0
    if months is None or (months >= checked and visit.get("months_above_line") is not None):
        # The lake decides when it saw a month below the line; when every month it holds was above
        # (a short history), the visit's verified count stands.
        form_months = visit.get("months_above_line")
        months = max(int(months or 0), int(form_months)) if form_months is not None else months
    if months is None or int(months) < STABLE_MONTHS:
        problems.append(
            f"收入稳定高于监测线不足 {STABLE_MONTHS} 个月（{months if months is not None else '未知'}）"
        )
    for key, label in (
        ("education_ok", "义务教育"),
        ("medical_insurance_ok", "基本医疗保险"),
        ("housing_ok", "住房安全"),
        ("water_ok", "饮水安全"),
    ):
        if not visit.get(key):
            problems.append(f"{label}未保障")
    if visit.get("new_risk"):
        problems.append("存在新的风险")
    return problems


def must_hold(visit: Mapping[str, Any]) -> bool:
    """Households without labour capacity are not eliminated, they stay monitored (POLICY.md)."""
    return int(visit.get("able_members", 1) or 0) == 0
