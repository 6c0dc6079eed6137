"""Template helpers for pages of other apps that show case actions (the lead page)."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import QuerySet

from fangpin.accounts.models import User
from fangpin.cases import deadlines
from fangpin.cases.actions import assignees_for
from fangpin.cases.models import Case

register = template.Library()


@register.simple_tag
def case_assignees(lead: Any) -> QuerySet[User]:
    return assignees_for(str(lead.village_id))


@register.simple_tag
def lead_cases(lead: Any) -> list[tuple[Case, deadlines.Clock]]:
    return [(c, deadlines.clock(c)) for c in Case.objects.filter(lead_id=lead.pk).order_by("-opened_at")]


@register.simple_tag
def user_can(user: Any, capability: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.can(capability))


_EXTRA_LABELS = {
    "open": "立案派发",
    "reassign": "改派",
    "deadline_recomputed": "办结时限重算",
    "import": "导入",
}


@register.filter
def action_label(action: str) -> str:
    from fangpin.cases.transitions import TRANSITIONS

    found = TRANSITIONS.get(action)
    return found.label if found else _EXTRA_LABELS.get(action, action)


@register.filter
def state_label(state: str) -> str:
    from fangpin.cases.transitions import STATE_LABELS

    return STATE_LABELS.get(state, state)
