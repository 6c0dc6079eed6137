"""Template filters: masking of personal information (templates never print a raw ID or name), and two
small helpers for tables (dictionary lookup, percentages)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from fangpin.lib import masking

register = template.Library()


@register.filter
def mask_id(value: str | None) -> str:
    return masking.mask_id_number(value)


@register.filter
def mask_name(value: str | None) -> str:
    return masking.mask_name(value)


@register.filter
def pi_label(person: Any) -> str:
    """'未成年人(不满14周岁)' for a person under 14 today, else '' (Person.sensitivity_label decides)."""
    return str(person.sensitivity_label(timezone.localdate())) if person is not None else ""


@register.filter
def get_item(mapping: dict[str, object], key: str) -> object:
    return mapping.get(key)


@register.filter
def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
