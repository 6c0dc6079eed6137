"""Risk types (致贫/返贫风险) and monitoring categories (监测对象类别): their codes and names, defined once.

POLICY.md: the widely used code list (01 因病, 02 因灾, …, 99 其他), up to five risk types per household in
the national exports, and the three monitoring categories. Django-free: the pipeline's policy and
screening use it as well as the apps' forms, exports and imports.
"""

from __future__ import annotations

RISK_TYPES: dict[str, str] = {
    "01": "因病",
    "02": "因灾",
    "03": "因残",
    "04": "缺劳动力",
    "05": "意外",
    "06": "产业失败",
    "07": "务工就业不稳",
    "09": "因学",
    "99": "其他",
}
MAX_RISK_TYPES = 5  # per household (a warning, a case, a row of the national roster)

CATEGORIES: dict[str, str] = {
    "unstable": "脱贫不稳定户",
    "marginal": "边缘易致贫户",
    "sudden": "突发严重困难户",
}
