"""Template filters for the lead pages: masked household numbers, risk type names, deadlines."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from fangpin.lib.risks import RISK_TYPES

register = template.Library()


@register.filter
def mask_household_no(value: str | None) -> str:
    """3607221002000001 → 360722******0001 (county and the last four stay readable)."""
    if not value:
        return ""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


@register.filter
def risk_names(codes: str | None) -> str:
    return "、".join(RISK_TYPES.get(c, c) for c in (codes or "").split(";") if c)


@register.filter
def is_past(value: dt.datetime | None) -> bool:
    return value is not None and value < timezone.now()
