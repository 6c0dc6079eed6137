"""`{% purpose_fields %}`: the purpose choice and note that every export and reveal form carries (PI-04)."""

from __future__ import annotations

from typing import Any

from django import template

from fangpin.privacy.forms import PURPOSES

register = template.Library()


@register.inclusion_tag("privacy/_purpose_fields.html")
def purpose_fields(size: str = "") -> dict[str, Any]:
    return {"purposes": PURPOSES, "size": size}
