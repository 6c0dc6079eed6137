"""Cases for `make demo`: the simulated county gets cases in every state, some overdue.

Every case is made through the real actions (dispatch, the visit with its scan, the village review, the
notice, township and county), back-dated with the actions' `at`, so the steps, audit rows, clocks and
notifications are what a real county would show. Villages without staff accounts get non-login accounts
for their grid worker and village cadre (a real county has them; the demo creates only one village's).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import struct
import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import Role
from fangpin.cases import actions
from fangpin.cases.deadlines import escalate
from fangpin.cases.models import Case
from fangpin.regions.models import Region
from fangpin.registry.models import Household, Membership
from fangpin.warnings.actions import report_lead
from fangpin.warnings.models import Lead, LeadKind, LeadStatus

log = logging.getLogger(__name__)

# (target state, kind, days since the lead was found, green channel); overdue ones are old and early.
PLAN: list[tuple[str, str, int, bool]] = [
    ("verifying", "identification", 3, False),
    ("verifying", "identification", 21, False),  # overdue at the visit
    ("returned", "identification", 12, False),
    ("village_review", "identification", 6, False),
    ("village_review", "identification", 25, False),  # overdue at the village
    ("publicity", "identification", 9, False),
    ("township_review", "identification", 13, False),
    ("township_review", "identification", 30, False),  # overdue at the township
    ("county_approval", "identification", 14, False),
    ("announced", "identification", 15, False),
    ("monitored", "identification", 60, False),
    ("monitored", "identification", 45, False),
    ("monitored", "identification", 40, False),
    ("rejected", "identification", 20, False),
    ("verifying", "identification", 2, True),  # green channel: helped first, procedure pending
    ("verifying", "elimination", 4, False),
    ("publicity", "elimination", 8, False),
    ("township_review", "elimination", 12, False),
    ("eliminated", "elimination", 20, False),
    ("held", "elimination", 18, False),
    ("rejected", "elimination", 16, False),
]
ORDER = [
    "verifying",
    "village_review",
    "publicity",
    "township_review",
    "county_approval",
    "announced",
    "monitored",
]


def _png() -> bytes:
    """A small grey PNG standing in for the photo of a signed authorisation (demo only)."""
    width, height = 60, 80
    raw = b"".join(b"\x00" + b"\xdd" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _staff(village: Region, role: str, name: str, region: str | None = None) -> User:
    region = region or village.prefix
    found = User.objects.filter(role=role, region_id=region, is_active=True).order_by("pk").first()
    if found:
        return found
    user = User(username=f"demo_{role}_{region}", role=role, region_id=region, full_name=name)
    user.set_unusable_password()  # they stand in for colleagues; nobody signs in as them
    user.save()
    return user


class _People:
    def __init__(self, village: Region) -> None:
        self.grid = _staff(village, Role.GRID_WORKER, "网格员")
        self.cadre = _staff(village, Role.VILLAGE_CADRE, "村干部")
        self.township = _staff(village, Role.TOWNSHIP_REVIEWER, "乡镇审核员", village.prefix[:9])
        self.county = _staff(village, Role.COUNTY_APPROVER, "县级审批员", village.prefix[:6])


def _visit(case: Case, lead: Lead | None, *, eliminate: bool, able: int = 1) -> dict[str, Any]:
    members = Membership.objects.filter(household=case.household, end_date__isnull=True).count() or 1
    snapshot = lead.portrait_snapshot if lead else {}
    wage = float(snapshot.get("wage_income_12m") or 0) or 4000.0 * members
    return {
        "members": members,
        "able_members": min(able, members),
        "wage_income": round(wage * (3 if eliminate else 1), 2),
        "business_income": 1500,
        "property_income": 0,
        "transfer_income": round(float(snapshot.get("assistance_income_12m") or 0), 2),
        "medical_spending": 0 if eliminate else round(float(snapshot.get("medical_self_pay_12m") or 0), 2),
        "schooling_spending": round(float(snapshot.get("schooling_cost_12m") or 0), 2),
        "other_rigid_spending": 0,
        "education_ok": True,
        "medical_insurance_ok": True,
        "housing_ok": True,
        "water_ok": True,
        "risk_types": [] if eliminate else (lead.risk_type_list()[:5] if lead else ["99"]),
        "months_above_line": 8 if eliminate else None,
        "new_risk": False,
        "notes": "演示数据：入户核实情况属实" if not eliminate else "演示数据：收入稳定，三保障和饮水安全",
    }


def _advance(case: Case, until: str, people: _People, start: dt.datetime, lead: Lead | None) -> Case:
    """Take the case step by step to `until`, each step a few hours or days after the previous one."""
    eliminate = case.kind == "elimination"
    at = start + dt.timedelta(hours=20)
    final = {"rejected": "township_review", "held": "county_approval", "returned": "county_approval"}
    stop = final.get(until, until)
    able = 0 if until == "held" else 1
    while case.state != stop:
        state = case.state
        if state == "verifying":
            files = (
                None
                if eliminate
                else {"authorization": SimpleUploadedFile("授权书.png", _png(), "image/png")}
            )
            payload = {**_visit(case, lead, eliminate=eliminate, able=able), "version": case.version}
            payload = {k: v for k, v in payload.items() if v is not None}
            case = actions.submit(
                case, "submit_visit", actor=people.grid, payload=payload, files=files, at=at
            )
        elif state == "village_review":
            payload = {
                "version": case.version,
                "meeting_date": at.date().isoformat(),
                "attendees": 15,
                "votes_for": 14,
                "result": "经评议，同意" + ("消除风险" if eliminate else "纳入监测"),
            }
            case = actions.submit(case, "village_review", actor=people.cadre, payload=payload, at=at)
        elif state == "publicity":
            assert case.publicity_started_at is not None
            at = max(at, case.publicity_started_at + dt.timedelta(days=5, minutes=5))
            case = actions.submit(
                case,
                "end_publicity",
                actor=people.cadre,
                payload={"version": case.version, "note": "无异议"},
                at=at,
            )
        elif state == "township_review":
            payload = {"version": case.version, "note": "同意"}
            case = actions.submit(case, "township_approve", actor=people.township, payload=payload, at=at)
        elif state == "county_approval":
            payload: dict[str, Any] = {"version": case.version, "note": "同意"}  # type: ignore[no-redef]
            if not eliminate:
                payload |= {
                    "category": case.category or "marginal",
                    "risk_types": case.risk_type_list()[:5] or ["99"],
                }
            case = actions.submit(case, "county_approve", actor=people.county, payload=payload, at=at)
        elif state == "announced":
            case = actions.submit(
                case,
                "announce",
                actor=people.township,
                payload={"version": case.version, "note": "已公告"},
                at=at,
            )
        else:  # pragma: no cover - a state the plan does not pass through
            raise RuntimeError(f"demo cannot advance from {state}")
        at += dt.timedelta(days=1, hours=3)
    if until == "rejected":
        reason = "经核实家庭收入高于监测范围，不予纳入" if not eliminate else "收入尚不稳定，不予消除"
        case = actions.submit(
            case, "reject", actor=people.township, payload={"version": case.version, "reason": reason}, at=at
        )
    elif until == "held":
        case = actions.submit(
            case,
            "hold",
            actor=people.county,
            payload={"version": case.version, "reason": "无劳动能力，继续监测"},
            at=at,
        )
    elif until == "returned":
        case = actions.submit(
            case,
            "return_for_rework",
            actor=people.county,
            payload={"version": case.version, "reason": "收入核实不完整，请补充", "return_to": "verifying"},
            at=at,
        )
    return case


def _leads(county: str) -> list[Lead]:
    return list(
        Lead.objects.filter(
            village__prefix__startswith=county,
            kind=LeadKind.VERIFY,
            status__in=[LeadStatus.NEW, LeadStatus.ACCEPTED],
            household__isnull=False,
        )
        .exclude(household__cases__isnull=False)
        .order_by("-score", "pk")
    )


def _stable_households(county: str, exclude: set[int], months: int = 6) -> list[int]:
    """Households whose lake portraits are above the monitoring line in every month the lake holds
    (elimination candidates); [] without a lake."""
    from pathlib import Path

    from django.conf import settings

    from fangpin.cases.actions import _portraits_of
    from fangpin.lib.periods import previous_period
    from fangpin.warnings.screening import monitoring_line

    if not (Path(settings.FANGPIN_LAKE) / "_deliveries").is_dir():
        return []
    current = timezone.localdate().strftime("%Y-%m")
    above: set[int] | None = None
    for back in range(1, months + 1):
        period = previous_period(current, back)
        rows = _portraits_of(period)
        if not rows:
            continue
        line = monitoring_line(int(period[:4])) * 1.2
        these = {
            key
            for key, row in rows.items()
            if str(row.get("county_code") or "").startswith(county)
            and float(row.get("net_income_pc_12m") or 0) > line
        }
        above = these if above is None else above & these
    return sorted((above or set()) - exclude)


def populate(
    county: str,
    *,
    leads: Iterable[Lead] | None = None,
    focus_village: str | None = None,
    now: dt.datetime | None = None,
    seed: int = 1,
) -> Counter[str]:
    """Cases in every state for the county's open department leads (highest score first; the demo
    village's leads first, so its grid worker has tasks). Returns the count per state."""
    now = now or timezone.now()
    pool = list(leads) if leads is not None else _leads(county)
    if focus_village:
        pool.sort(key=lambda lead: lead.village_id != focus_village)
    random.Random(seed).shuffle(pool[len(PLAN) :])
    made: Counter[str] = Counter()
    taken = {lead.household_id for lead in pool if lead.household_id}
    # households that already have a case (the county's imported 台账) are not made monitored again
    taken |= set(
        Case.objects.filter(village__prefix__startswith=county).values_list("household_id", flat=True)
    )
    stable = _stable_households(county, taken)
    random.Random(seed).shuffle(stable)
    if focus_village:
        stable.sort(key=lambda pk: not Household.objects.filter(pk=pk, village_id=focus_village).exists())
    for (until, kind, age, green), lead in zip(PLAN, pool, strict=False):
        # each action below is its own transaction (they are outermost: fangpin.kernel)
        start = now - dt.timedelta(days=age)
        if kind == "elimination" and stable:
            # A household the lake shows above the line: monitored earlier (a cadre's report), now stable.
            household = Household.objects.get(pk=stable.pop(0))
            people = _People(household.village)
            lead = report_lead(
                household=household,
                risk_types=["07"],
                note="演示：务工就业不稳，曾纳入监测",
                actor=people.grid,
            )
        people = _People(lead.village)
        if kind == "elimination":
            base = actions.open_case(
                lead, actor=people.township, assignee=people.grid, at=start - dt.timedelta(days=200)
            )
            base = _advance(base, "monitored", people, start - dt.timedelta(days=200), lead)
            case = actions.open_elimination(base, actor=people.township, assignee=people.grid, at=start)
            case = _advance(case, until, people, start, None)
        else:
            case = actions.open_case(
                lead,
                actor=people.township,
                assignee=people.grid,
                green_channel=green,
                category=lead.category or "sudden",
                risk_types=lead.risk_type_list()[:5] or ["05"],
                reason="突发意外，事实清楚，先帮扶后补程序" if green else "",
                at=start,
            )
            case = _advance(case, until, people, start, lead)
        made[case.state + ("(绿色通道)" if case.green_channel else "")] += 1
    if len(pool) < len(PLAN):
        log.warning("cases demo: only %s leads for %s planned cases", len(pool), len(PLAN))
    escalate(now)  # the overdue cases' notices reach the township and county inboxes
    return made


def overdue_count(county: str) -> int:
    from fangpin.cases.deadlines import overdue

    return overdue(Case.objects.filter(village__prefix__startswith=county)).count()
