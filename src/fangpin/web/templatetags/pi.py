"""Template filters that mask personal information; templates never print a raw ID or name."""

from __future__ import annotations

from django import template

from fangpin.lib import masking

register = template.Library()


@register.filter
def mask_id(value: str | None) -> str:
    return masking.mask_id_number(value)


@register.filter
def mask_name(value: str | None) -> str:
    return masking.mask_name(value)
