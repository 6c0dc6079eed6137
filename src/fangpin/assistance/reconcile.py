"""The monthly reconciliation of the agriculture roster (ag_roster, the latest snapshot in the lake) with
fangpin's cases: households monitored in one and not the other, or eliminated in one and monitored in the
other, are listed (Discrepancy) for the county to resolve. Nothing here changes a case.

Runs after each accepted ag_roster delivery (exchange.actions.import_file) and on demand (the page, the
API, `fangpin cases reconcile`)."""

from __future__ import annotations

import logging
from collections import Counter

from django.db import transaction
from django.utils import timezone

from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.assistance.actions import AssistanceError
from fangpin.assistance.models import Discrepancy
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases import monitoring
from fangpin.cases.models import Case
from fangpin.cases.transitions import Kind, State
from fangpin.kernel import Conflict, lock, outermost
from fangpin.regions.models import Level, Region
from fangpin.registry.models import Household

log = logging.getLogger(__name__)
Kinds = Discrepancy.Kind


def roster_statuses(period: str) -> dict[int, str]:
    """household id → monitor_status of the latest ag_roster delivered for periods ≤ `period`."""
    from fangpin.exchange.actions import lake

    store = lake()
    if not any(r.period <= period for r in store.deliveries("ag_roster")):
        raise AssistanceError(f"{period} 及以前尚未导入农业农村部门的监测对象名册（ag_roster），无法核对")
    table = store.read("ag_roster", period, columns=["household_key", "monitor_status"])
    keys = table.column("household_key").to_pylist()
    statuses = table.column("monitor_status").to_pylist()
    return {int(k): str(s or "none") for k, s in zip(keys, statuses, strict=True) if k is not None}


def fangpin_statuses(county: str) -> dict[int, str]:
    """household id → monitored / eliminated (once monitored, no longer) for the county's households."""
    cases = Case.objects.filter(village__prefix__startswith=county)
    monitored = set(monitoring.monitored(cases).values_list("household_id", flat=True))
    eliminated = set(
        cases.filter(kind=Kind.ELIMINATION, state=State.ELIMINATED).values_list("household_id", flat=True)
    )
    return {**{h: "eliminated" for h in eliminated - monitored}, **{h: "monitored" for h in monitored}}


def _kind(roster: str, fangpin: str) -> str | None:
    if roster == "monitored" and fangpin == "":
        return Kinds.ROSTER_ONLY
    if roster == "monitored" and fangpin == "eliminated":
        return Kinds.ROSTER_MONITORED_ELIMINATED
    if fangpin == "monitored" and roster == "eliminated":
        return Kinds.FANGPIN_MONITORED_ELIMINATED
    if fangpin == "monitored" and roster != "monitored":
        return Kinds.FANGPIN_ONLY
    return None


@transaction.atomic
def reconcile(county: Region, period: str, *, actor: User | None = None, username: str = "") -> Counter[str]:
    """List the county's discrepancies as of `period`; those no longer found are closed as 已一致."""
    if county.level != Level.COUNTY:
        raise AssistanceError("名册核对按县进行")
    roster = roster_statuses(period)
    ours = fangpin_statuses(county.prefix)
    villages = dict(
        Household.objects.filter(village__prefix__startswith=county.prefix).values_list("id", "village_id")
    )
    found: dict[tuple[int, str], tuple[str, str]] = {}
    for household in villages.keys() & (roster.keys() | ours.keys()):
        status, mine = roster.get(household, "none"), ours.get(household, "")
        kind = _kind(status, mine)
        if kind is not None:
            found[(household, kind)] = (status, mine)
    open_ = {(d.household_id, d.kind): d for d in Discrepancy.objects.filter(county=county, status="open")}
    counts: Counter[str] = Counter()
    for (household, kind), (status, mine) in found.items():
        counts[kind] += 1
        if (household, kind) in open_:
            Discrepancy.objects.filter(pk=open_[(household, kind)].pk).update(
                last_period=period, roster_status=status, fangpin_status=mine
            )
        else:
            Discrepancy.objects.create(
                county=county,
                village_id=villages[household],
                household_id=household,
                kind=kind,
                roster_status=status,
                fangpin_status=mine,
                first_period=period,
                last_period=period,
            )
            counts["new"] += 1
    gone = [d.pk for key, d in open_.items() if key not in found]
    Discrepancy.objects.filter(pk__in=gone).update(status=Discrepancy.Status.GONE, last_period=period)
    counts["closed"] = len(gone)
    record(
        Event.ROSTER_RECONCILED,
        actor=actor,
        username=username,
        object_type="region",
        object_id=county.prefix,
        data={"period": period, "roster_households": len(roster), **counts},
    )
    return counts


def after_roster_delivery(period: str) -> None:
    """The exchange's hook: reconcile every county the delivered roster touches. Never fails the import."""
    try:
        keys = list(roster_statuses(period))
        counties: set[str] = set()
        for start in range(0, len(keys), 500):  # SQLite's bound on query parameters
            villages = Household.objects.filter(pk__in=keys[start : start + 500]).values_list(
                "village_id", flat=True
            )
            counties.update(str(v)[:6] for v in villages)
        for county in Region.objects.filter(prefix__in=counties, level=Level.COUNTY):
            reconcile(county, period, username="exchange")
    except Exception:  # the delivery is in; the county can run the reconciliation again from its page
        log.exception("reconciliation after the ag_roster delivery of %s failed", period)


@outermost
def resolve(discrepancy: Discrepancy, *, actor: User, note: str, expected_version: int) -> Discrepancy:
    """The county records how it resolved a discrepancy (the fix itself goes through the case actions)."""
    if not actor.can(Can.COUNTY_APPROVE) or not str(discrepancy.village_id).startswith(str(actor.region_id)):
        raise AssistanceError("只有本县的县级审批员可以处理名册差异")
    note = note.strip()
    if len(note) < 2:
        raise AssistanceError("请填写处理说明")
    stale = "该差异已被他人处理或已自动关闭，请刷新"
    locked = lock(Discrepancy, discrepancy.pk, expected_version, message=stale)
    if locked.status != Discrepancy.Status.OPEN:
        raise Conflict(stale)
    locked.status, locked.note = Discrepancy.Status.RESOLVED, note[:2000]
    locked.resolved_by, locked.resolved_at = actor, timezone.now()
    locked.bump(["status", "note", "resolved_by", "resolved_at"])
    record(
        Event.ROSTER_DISCREPANCY_RESOLVED,
        actor=actor,
        object_type="discrepancy",
        object_id=discrepancy.pk,
        data={"kind": discrepancy.kind},
    )
    return locked
