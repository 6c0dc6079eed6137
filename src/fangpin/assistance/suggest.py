"""Which toolbox measures suit a household: a deterministic ranking (pure Python, no Django), tested alone.

A measure type is suggested when it addresses one of the household's risk types or an unmet 三保障/water
need, its category and labour conditions fit, and the household does not already have it. Ties are broken
by the toolbox's priority and then the code, so the same input always gives the same list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fangpin.lib.risks import RISK_TYPES

# An unmet 保障 need is answered by the toolbox category of the same name.
NEEDS = {"medical": "医疗", "education": "教育", "housing": "住房", "water": "饮水"}
NEED_CATEGORY = {"medical": "medical", "education": "education", "housing": "housing", "water": "water"}


@dataclass(frozen=True)
class Entry:
    """The parts of a MeasureType the ranking reads."""

    code: str
    name: str
    category: str
    risk_types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # monitoring categories it is for; empty = any
    labour: str = "any"  # any | able | unable
    priority: int = 50


@dataclass(frozen=True)
class Situation:
    risk_types: tuple[str, ...]
    category: str = ""  # unstable | marginal | sudden | ""
    able_members: int | None = None  # None: not recorded
    unmet: frozenset[str] = field(default_factory=frozenset)  # subset of NEEDS
    existing: frozenset[str] = field(default_factory=frozenset)  # codes already open in the plan


@dataclass(frozen=True)
class Suggestion:
    code: str
    score: float
    reason: str


def _fits_labour(entry: Entry, able_members: int | None) -> bool:
    if entry.labour == "able":
        return able_members is None or able_members > 0
    if entry.labour == "unable":
        return able_members == 0
    return True


def _risk_weight(code: str, household_risks: Sequence[str]) -> float:
    """The first risk type is the main one (主要风险); 其他 (99) is a catch-all and weighs little."""
    if code == "99":
        return 3.0
    return 12.0 if household_risks and household_risks[0] == code else 10.0


def suggest(toolbox: Iterable[Entry], situation: Situation, limit: int = 8) -> list[Suggestion]:
    ranked: list[tuple[float, int, str, Suggestion]] = []
    for entry in toolbox:
        if entry.code in situation.existing or not _fits_labour(entry, situation.able_members):
            continue
        if entry.categories and situation.category not in entry.categories:
            continue
        risks = [r for r in situation.risk_types if r in entry.risk_types]
        needs = [n for n in sorted(situation.unmet) if NEED_CATEGORY.get(n) == entry.category]
        if not risks and not needs:
            continue
        score = sum(_risk_weight(r, situation.risk_types) for r in risks) + 20.0 * len(needs)
        if entry.labour == "unable":  # bottom-line protection comes first for those who cannot work
            score += 15.0
        parts = []
        if risks:
            parts.append("对应风险：" + "、".join(RISK_TYPES.get(r, r) for r in risks))
        if needs:
            parts.append("保障缺口：" + "、".join(NEEDS[n] for n in needs))
        if entry.labour == "unable":
            parts.append("无劳动能力，兜底保障")
        elif entry.labour == "able":
            parts.append("有劳动能力，开发式帮扶")
        ranked.append((-score, -entry.priority, entry.code, Suggestion(entry.code, score, "；".join(parts))))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked[:limit]]


def unmet_needs(flags: dict[str, object]) -> frozenset[str]:
    """From a visit's booleans (medical_ok, education_ok, housing_ok, water_ok): the needs not secured.
    The identification visit form calls the medical one medical_insurance_ok."""
    flags = {"medical_ok": flags.get("medical_insurance_ok"), **flags}
    return frozenset(n for n in NEEDS if flags.get(f"{n}_ok") is False)


def new_risk_types(current: Sequence[str], prompted: Sequence[str]) -> tuple[str, ...]:
    """Risk types a screening prompt raises that the plan's case did not have (dynamic adjustment)."""
    return tuple(r for r in dict.fromkeys(prompted) if r not in current)
