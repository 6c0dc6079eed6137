"""The personal-information inventory (SECURITY.md PI-01): pi-inventory.yaml lists every model field and
lake column that holds personal information, with its category, purpose, who sees it, masking and
retention. `pi_like` is the heuristic a test uses to find fields the inventory has missed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PATH = Path(__file__).with_name("pi-inventory.yaml")
CATEGORIES = ("一般", "敏感")
REQUIRED = ("category", "purpose", "who", "masking", "retention")

# names that usually hold personal information (PIPL Art. 4 / 28): identity, contact, health, money, place
_PI_NAME = re.compile(
    r"(^|_)(id_?number|id_card|idcard|name|phone|mobile|tel|bank|account_no|card_no|address|addr|birth"
    r"|diagnos\w*|disease|illness|disab\w*|income|salary|wage|pension|allowance|benefit|amount|cost"
    r"|medical|hospital|death|deceased|gender|sex|email|photo|face|gps|location|relation|declarant"
    r"|portrait|person_key|landline)($|_)"
)


def pi_like(name: str, internal_type: str = "", max_length: int | None = None) -> bool:
    """By name, or by type: an 18-character text field is shaped like a resident ID number."""
    if internal_type == "CharField" and max_length == ID_NUMBER_LENGTH:
        return True
    return bool(_PI_NAME.search(name.lower()))


ID_NUMBER_LENGTH = 18


@dataclass(frozen=True)
class Inventory:
    fields: dict[str, dict[str, Any]]  # "app_label.Model.field" → entry
    columns: dict[str, dict[str, Any]]  # "dataset.column" → entry
    not_personal: dict[str, str]  # a name the heuristic flags → why it is not personal information


@cache
def load(path: Path = PATH) -> Inventory:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Inventory(
        fields=dict(raw.get("fields") or {}),
        columns=dict(raw.get("lake_columns") or {}),
        not_personal=dict(raw.get("not_personal") or {}),
    )


def problems(entry: dict[str, Any]) -> list[str]:
    """What an inventory entry lacks (every entry states all of REQUIRED, with a known category)."""
    found = [f"missing {key}" for key in REQUIRED if not entry.get(key)]
    if entry.get("category") and entry["category"] not in CATEGORIES:
        found.append(f"category must be one of {CATEGORIES}")
    return found
