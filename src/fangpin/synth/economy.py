"""Money flows: the three insurance layers of a medical bill and a household's income of one month."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]

# Typical rural resident scheme (Jiangxi-like): deductible, reimbursement shares and critical-illness threshold.
DEDUCTIBLE = 800.0
BASIC_SHARE_INPATIENT = 0.65
BASIC_SHARE_CHRONIC = 0.6
CRITICAL_THRESHOLD = 15_000.0
CRITICAL_SHARE = 0.6
ASSISTANCE_SHARE = 0.7  # 医疗救助 for 脱贫户, monitored, 低保/特困 households


@dataclass
class Bill:
    total: Arr
    basic: Arr
    critical: Arr
    assistance: Arr
    self_pay: Arr
    compliant: Arr  # self-pay on in-policy items: the 合规自付 that the income test nets off


def settle(total: Arr, inpatient: Arr, insured: Arr, special: Arr, rng: np.random.Generator) -> Bill:
    """Split bills into basic insurance, critical-illness insurance, medical assistance and self-pay."""
    total = np.round(total, 2)
    in_policy = total * rng.uniform(0.78, 0.93, len(total))
    basic = np.where(
        inpatient,
        np.maximum(in_policy - DEDUCTIBLE, 0) * BASIC_SHARE_INPATIENT,
        in_policy * BASIC_SHARE_CHRONIC,
    )
    critical = np.where(
        inpatient, np.maximum(in_policy - basic - CRITICAL_THRESHOLD, 0) * CRITICAL_SHARE, 0.0
    )
    basic = np.where(insured, basic, 0.0)
    critical = np.where(insured, critical, 0.0)
    assistance = np.where(special, np.maximum(in_policy - basic - critical, 0) * ASSISTANCE_SHARE, 0.0)
    basic, critical, assistance = (np.round(x, 2) for x in (basic, critical, assistance))
    self_pay = np.round(total - basic - critical - assistance, 2)
    compliant = np.round(np.maximum(in_policy - basic - critical - assistance, 0), 2)
    return Bill(total, basic, critical, assistance, self_pay, compliant)


def growth(months_since_mid_2024: int, rate: float) -> float:
    return float((1 + rate) ** (months_since_mid_2024 / 12))


def business_split(net: Arr, cost_share: Arr) -> tuple[Arr, Arr]:
    """Gross revenue and cost of farming/business from the net, as the income survey records them."""
    gross = net / (1 - cost_share)
    return gross, gross - net


def bincount(index: Arr, weights: Arr, n: int) -> npt.NDArray[np.float64]:
    return np.bincount(index, weights=weights, minlength=n).astype(np.float64, copy=False)
