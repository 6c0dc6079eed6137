"""fangpin's own decisions as training labels for the Django-free `pipeline.history` (ADR 0030).

One row per decided lead: (household_key, period, label, source), household_key = the registry
Household pk (the lake's household_key). Only decisions taken after a home visit count; a lead refused
without a visit (不予受理) says nothing about the household and is left out.

- a verification lead confirmed and brought into monitoring: positive at the lead's period;
- a verification lead found not at risk: a known negative at its period;
- self-declarations alike (their own sources, so the ADR's weights can tell them apart);
- a risk eliminated (风险消除): the household was at risk before, not after: a known negative in the month
  after the elimination lead's period (at that period it was still monitored, outside the ranking).
"""

from __future__ import annotations

import pyarrow as pa

from fangpin.pipeline.history import DECISION_SCHEMA, later_period
from fangpin.warnings.models import Channel, Lead, LeadKind, Outcome


def _label(kind: str, channel: str, outcome: str, period: str) -> tuple[str, bool, str] | None:
    """(period, label, source) of one decided lead, or None when the decision says nothing."""
    who = "declaration" if channel == Channel.SELF_DECLARATION else "lead"
    if kind == LeadKind.VERIFY and outcome == Outcome.CONFIRMED:
        return period, True, f"{who}_confirmed"
    if kind == LeadKind.VERIFY and outcome == Outcome.NOT_CONFIRMED:
        return period, False, f"{who}_not_confirmed"
    if kind == LeadKind.ELIMINATION and outcome == Outcome.ELIMINATED:
        return later_period(period, 1), False, "eliminated"
    return None


def decision_labels() -> pa.Table:
    """Every decided lead of a household as a label row (DECISION_SCHEMA)."""
    rows = (
        Lead.objects.filter(household__isnull=False)
        .exclude(outcome="")
        .values_list("household_id", "period", "kind", "channel", "outcome")
        .order_by("pk")
    )
    keys: list[int] = []
    periods: list[str] = []
    labels: list[bool] = []
    sources: list[str] = []
    for household, period, kind, channel, outcome in rows.iterator():
        found = _label(kind, channel, outcome, period)
        if found is None:
            continue
        keys.append(int(household))
        periods.append(found[0])
        labels.append(found[1])
        sources.append(found[2])
    return pa.table(
        {"household_key": keys, "period": periods, "label": labels, "source": sources}, schema=DECISION_SCHEMA
    )
