"""Who may take each step and who may not: roles × scope × state, generated as a matrix.

Two layers: the pure state machine over every role, both scopes, every state and both kinds (against a
table written out independently below), and the real actions over every persona of tests/conftest.py
(role and place together) at each step's own state.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from conftest import PERSONAS
from fangpin.accounts.roles import CAPABILITIES, Role
from fangpin.cases import actions
from fangpin.cases.transitions import TRANSITIONS, Actor, CaseView, Kind, Level, Refused, State, check

from .conftest import ELIMINATION_VISIT, VISIT, scan

NOW = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
GRID, CADRE, TOWN, COUNTY = Role.GRID_WORKER, Role.VILLAGE_CADRE, Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER
# Who decides at each state (for reject / return / hold, which belong to the level where the case waits).
AT_STATE = {
    State.VERIFYING: {GRID, CADRE},
    State.VILLAGE_REVIEW: {CADRE},
    State.PUBLICITY: {CADRE},
    State.TOWNSHIP_REVIEW: {TOWN},
    State.COUNTY_APPROVAL: {COUNTY},
}
EXPECTED: dict[str, dict[State, set[str]]] = {
    "submit_visit": {State.VERIFYING: {GRID, CADRE}},
    "village_review": {State.VILLAGE_REVIEW: {CADRE}},
    "record_objection": {State.PUBLICITY: {CADRE}},
    "end_publicity": {State.PUBLICITY: {CADRE}},
    "township_approve": {State.TOWNSHIP_REVIEW: {TOWN}},
    "county_approve": {State.COUNTY_APPROVAL: {COUNTY}},
    "announce": {State.ANNOUNCED: {TOWN}},
    "reject": dict(AT_STATE),
    "hold": dict(AT_STATE),
    "return_for_rework": {
        s: AT_STATE[s] for s in (State.PUBLICITY, State.TOWNSHIP_REVIEW, State.COUNTY_APPROVAL)
    },
    "green_channel": {
        s: {TOWN} for s in (State.VERIFYING, State.VILLAGE_REVIEW, State.PUBLICITY, State.TOWNSHIP_REVIEW)
    },
}
ONLY = {"announce": Kind.IDENTIFICATION, "green_channel": Kind.IDENTIFICATION, "hold": Kind.ELIMINATION}


def test_the_expected_table_covers_every_action_people_take() -> None:
    assert set(EXPECTED) == set(TRANSITIONS) - {"compare"}


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_the_machine_matches_the_table_for_every_role_scope_state_and_kind(action: str) -> None:
    wrong = []
    for role, in_scope, state, kind in itertools.product(
        [r.value for r in Role], (True, False), list(State), list(Kind)
    ):
        actor = Actor(id=1, capabilities=frozenset(str(c) for c in CAPABILITIES[role]), in_scope=in_scope)
        case = CaseView(kind=kind, state=state, publicity_started_at=NOW - dt.timedelta(days=6))
        expected = in_scope and role in EXPECTED[action].get(state, set()) and ONLY.get(action, kind) == kind
        try:
            check(case, action, actor, now=NOW)
            allowed = True
        except Refused:
            allowed = False
        if allowed != expected:
            wrong.append(f"{role} scope={in_scope} {state} {kind}: allowed={allowed}")
    assert not wrong, "\n".join(wrong)


def test_a_returned_case_is_handled_by_the_level_it_was_returned_to() -> None:
    returned = CaseView(kind=Kind.IDENTIFICATION, state=State.RETURNED, return_to=State.VILLAGE_REVIEW)
    cadre = Actor(id=1, capabilities=frozenset({"village_review"}), in_scope=True)
    assert check(returned, "village_review", cadre, now=NOW).action == "village_review"
    with pytest.raises(Refused):
        check(returned, "submit_visit", Actor(2, frozenset({"verify_household"}), True), now=NOW)


def test_only_the_system_compares_and_the_system_takes_no_other_step() -> None:
    comparing = CaseView(kind=Kind.IDENTIFICATION, state=State.COMPARING)
    assert check(comparing, "compare", None, now=NOW).action == "compare"
    with pytest.raises(Refused):
        check(comparing, "compare", Actor(1, frozenset({"verify_household"}), True), now=NOW)
    with pytest.raises(Refused):
        check(
            CaseView(kind=Kind.IDENTIFICATION, state=State.TOWNSHIP_REVIEW), "township_approve", None, now=NOW
        )


def test_acting_at_one_level_bars_the_same_person_from_every_other_level() -> None:
    case = CaseView(kind=Kind.IDENTIFICATION, state=State.VILLAGE_REVIEW)
    cadre = frozenset({"verify_household", "village_review"})
    with pytest.raises(Refused, match="同一人"):
        check(case, "village_review", Actor(1, cadre, True, frozenset({Level.VERIFY})), now=NOW)
    assert check(case, "village_review", Actor(1, cadre, True, frozenset({Level.VILLAGE})), now=NOW)


# --- the real actions, persona by persona ---------------------------------------------------------

# (action, the state the case is walked to, kind) → the personas who may take it there
REAL: dict[tuple[str, str, str], set[str]] = {
    ("submit_visit", "verifying", "identification"): {"xiao_grid", "liu_cadre"},
    ("village_review", "village_review", "identification"): {"liu_cadre"},
    ("record_objection", "publicity", "identification"): {"liu_cadre"},
    ("end_publicity", "publicity", "identification"): {"liu_cadre"},
    ("township_approve", "township_review", "identification"): {"zhang_township"},
    ("county_approve", "county_approval", "identification"): {"wang_county"},
    ("announce", "announced", "identification"): {"zhang_township"},
    ("reject", "verifying", "identification"): {"xiao_grid", "liu_cadre"},
    ("reject", "township_review", "identification"): {"zhang_township"},
    ("return_for_rework", "county_approval", "identification"): {"wang_county"},
    ("green_channel", "verifying", "identification"): {"zhang_township"},
    ("hold", "township_review", "elimination"): {"zhang_township"},
    ("county_approve", "county_approval", "elimination"): {"wang_county"},
}


def _payload(action: str, kind: str, case: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"version": case.version}
    return base | {
        "submit_visit": VISIT if kind == "identification" else ELIMINATION_VISIT,
        "village_review": {"meeting_date": "2026-11-01", "attendees": 9, "votes_for": 8, "result": "同意"},
        "record_objection": {"objection": "有村民提出异议"},
        "reject": {"reason": "不符合条件"},
        "hold": {"reason": "继续监测"},
        "return_for_rework": {"reason": "补充材料", "return_to": "verifying"},
        "green_channel": {"reason": "突发灾害", "category": "sudden", "risk_types": ["02"]},
        "county_approve": {"category": "unstable", "risk_types": ["01"]} if kind == "identification" else {},
    }.get(action, {})


@pytest.mark.django_db
@pytest.mark.parametrize("persona", sorted(PERSONAS))
@pytest.mark.parametrize("step", sorted(REAL), ids=lambda s: "-".join(s))
def test_each_persona_may_take_exactly_its_own_steps(
    walk, world, persona: str, step: tuple[str, str, str]
) -> None:
    action, state, kind = step
    case = walk(state, kind=kind)
    at = case.publicity_started_at + dt.timedelta(days=5) if action == "end_publicity" else None
    files = {"authorization": scan()} if action == "submit_visit" and kind == "identification" else None
    try:
        after = actions.submit(
            case, action, actor=world.users[persona], payload=_payload(action, kind, case), files=files, at=at
        )
        allowed = True
    except Refused:
        allowed = False
    assert allowed == (persona in REAL[step]), f"{persona} {action} at {state}"
    if allowed:
        assert after.version > case.version
