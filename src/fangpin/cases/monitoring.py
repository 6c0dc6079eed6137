"""Who is monitored (监测对象): the one definition every page, export and count uses (issue #15).

POLICY.md: a household becomes a 监测对象 when the county's identification procedure ends in 录入 (state
`monitored`), or earlier through the green channel (绿色通道, "先帮扶后补程序": helped first, the procedure
completed afterwards). Either way the identification case carries `monitored_at`. It stops being one when

- the procedure it was helped ahead of ends in 不予纳入 (`rejected`, from `decided_at`): a green-channel
  household that the village review or the county turns down was never identified; or
- an elimination case for that identification ends in 风险消除 (`eliminated`, from its `decided_at`).
  暂缓消除 (`held`) keeps it monitored. The record stays in the system and the household can re-enter
  through a new identification case.

`at` reads the roster as it stood at an instant: what happened strictly before `at` counts, so a month's
figures do not change when a case is rejected or eliminated in a later month. `at=None` reads it now.
The unit is the household; a household has at most one open identification case, so `monitored()` has at
most one case per household except for re-entries after elimination.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Exists, OuterRef, Q

from fangpin.cases.models import Case
from fangpin.cases.transitions import Kind, State
from fangpin.registry.models import Household


def _decided_by(at: dt.datetime | None) -> Q:
    """Decided before `at` (a final state without a decision time counts as decided from the start)."""
    if at is None:
        return Q()
    return Q(decided_at__isnull=True) | Q(decided_at__lt=at)


def identified(
    cases: models.QuerySet[Case] | None = None, at: dt.datetime | None = None
) -> models.QuerySet[Case]:
    """Identification cases whose household was taken into monitoring (录入 or green channel) before `at`
    and not rejected since: the 监测对象台账, eliminated households included."""
    base = cases if cases is not None else Case.objects.all()
    found = base.filter(kind=Kind.IDENTIFICATION, monitored_at__isnull=False)
    if at is not None:
        found = found.filter(monitored_at__lt=at)
    return found.exclude(Q(state=State.REJECTED) & _decided_by(at))


def monitored(
    cases: models.QuerySet[Case] | None = None, at: dt.datetime | None = None
) -> models.QuerySet[Case]:
    """Identification cases whose household is monitored at `at` (now when None): `identified` and not
    ended by an eliminated elimination case. NOT EXISTS per case uses the identification_id index."""
    eliminated = Case.objects.filter(
        _decided_by(at), kind=Kind.ELIMINATION, state=State.ELIMINATED, identification_id=OuterRef("pk")
    )
    return identified(cases, at).exclude(Exists(eliminated))


def monitored_households(
    cases: models.QuerySet[Case] | None = None, at: dt.datetime | None = None
) -> models.QuerySet[Household]:
    return Household.objects.filter(pk__in=monitored(cases, at).values("household_id"))


def current_case(household: Household) -> Case | None:
    """The identification case that makes the household monitored now (None if it is not)."""
    return monitored(Case.objects.filter(household=household)).order_by("-monitored_at").first()


def monitored_risks(household_ids: set[int]) -> dict[int, set[str]]:
    """Household → the risk types recorded on the case that makes it monitored now (the latest one)."""
    rows = (
        monitored(Case.objects.filter(household_id__in=household_ids))
        .order_by("monitored_at", "pk")
        .values_list("household_id", "risk_types")
    )
    return {household: {t for t in (types or "").split(";") if t} for household, types in rows}
