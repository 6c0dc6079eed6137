"""Evaluation of a screening run against the simulator's hidden truth — the ONLY module that reads truth/.

Targets: households that truly meet the criteria in the as_of month and are NOT yet monitored
(truth `meets_criteria` and not `is_monitored`). Reported: recall and precision of the pushed verification
warnings, warnings per true household found, breakdowns by true category and true risk type, and the
ranking curve on all scored (unmonitored) households: warnings needed for 80/90/95 % recall and recall at
K = the number of true households.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from fangpin.pipeline.screen import UNMONITORED, ScreenResult

CURVE_LEVELS = (0.8, 0.9, 0.95)


@dataclass(frozen=True)
class Breakdown:
    key: str
    targets: int
    found: int

    @property
    def recall(self) -> float:
        return self.found / self.targets if self.targets else math.nan


@dataclass(frozen=True)
class Report:
    as_of: str
    households: int
    targets: int  # true, not yet monitored
    warnings: int  # pushed verification warnings
    found: int  # warnings that hit a target
    candidates: int  # households matching at least one rule (before capacity)
    candidates_found: int
    curve: dict[float, int | None]  # recall level → warnings needed (None: not reachable)
    recall_at_k: float
    by_category: list[Breakdown] = field(default_factory=list)
    by_risk_type: list[Breakdown] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.targets if self.targets else math.nan

    @property
    def precision(self) -> float:
        return self.found / self.warnings if self.warnings else math.nan

    @property
    def warnings_per_found(self) -> float:
        return self.warnings / self.found if self.found else math.inf

    def to_text(self) -> str:
        def pct(x: float) -> str:
            return "—" if math.isnan(x) else f"{x * 100:.1f}%"

        lines = [
            f"评估 evaluation as of {self.as_of}: {self.households} 户 households, "
            f"{self.targets} 户应纳未纳 true & not yet monitored",
            f"  推送预警 pushed warnings            {self.warnings}",
            f"  命中 found                           {self.found}",
            f"  召回率 recall                        {pct(self.recall)}",
            f"  准确率 precision                     {pct(self.precision)}",
            f"  每找到一户的预警数 warnings/found    {self.warnings_per_found:.2f}",
            f"  规则命中(不限容量) rule candidates  {self.candidates} (recall {pct(self.candidates_found / self.targets if self.targets else math.nan)})",
            "  排序曲线 ranking curve (all scored, unmonitored):",
        ]
        for level, n in self.curve.items():
            per = f"{n / (level * self.targets):.2f}" if n and self.targets else "—"
            shown = str(n) if n is not None else "不可达 unreachable"
            lines.append(f"    recall {level * 100:.0f}%: {shown} warnings ({per} per true household)")
        lines.append(f"    recall at K={self.targets}: {pct(self.recall_at_k)}")
        for title, rows in (
            ("按类别 by category", self.by_category),
            ("按风险类型 by risk type", self.by_risk_type),
        ):
            lines.append(f"  {title}:")
            lines.extend(
                f"    {b.key:<10} targets {b.targets:>5}  found {b.found:>5}  recall {pct(b.recall)}"
                for b in rows
            )
        return "\n".join(lines)


def load_truth(truth_dir: Path, as_of: str) -> dict[str, tuple[bool, bool, str, list[str]]]:
    """household_no → (meets_criteria, is_monitored, true_category, risk_types) for the as_of month."""
    path = Path(truth_dir) / "household_month.parquet"
    if not path.exists():
        raise FileNotFoundError(f"no truth at {path} (expected the simulator's DIR/truth)")
    table = pq.read_table(
        path,
        columns=["household_no", "period", "meets_criteria", "is_monitored", "true_category", "risk_types"],
        filters=[("period", "=", as_of)],
    )
    if table.num_rows == 0:
        raise ValueError(f"the truth has no month {as_of}")
    table = table.filter(pc.equal(table.column("period"), as_of))
    out: dict[str, tuple[bool, bool, str, list[str]]] = {}
    for row in table.to_pylist():
        out[row["household_no"]] = (
            bool(row["meets_criteria"]),
            bool(row["is_monitored"]),
            str(row["true_category"]),
            list(row["risk_types"] or []),
        )
    return out


def _risk_group(code: str) -> str:
    return "02" if code.startswith("02") else code


def evaluate(result: ScreenResult, truth_dir: Path, as_of: str | None = None) -> Report:
    when = as_of or result.as_of
    truth = load_truth(Path(truth_dir), when)
    targets = {h for h, (meets, monitored, _c, _r) in truth.items() if meets and not monitored}
    scored = result.all_scored.to_pylist()
    pushed = [r for r in scored if r["prompt"] == "verify" and r["pushed"]]
    found = {r["household_no"] for r in pushed} & targets
    candidates = [r for r in scored if r["prompt"] == "verify"]
    cand_found = {r["household_no"] for r in candidates} & targets
    # ranking curve: every household not monitored (by the roster as of as_of), by score
    ranked = [r["household_no"] for r in scored if r["monitor_status"] in UNMONITORED]
    curve: dict[float, int | None] = {}
    hits = 0
    needed = {level: math.ceil(level * len(targets)) for level in CURVE_LEVELS}
    recall_at_k = 0.0
    for i, h in enumerate(ranked, start=1):
        if h in targets:
            hits += 1
        for level, n in needed.items():
            if level not in curve and n and hits >= n:
                curve[level] = i
        if i == len(targets):
            recall_at_k = hits / len(targets) if targets else math.nan
    for level in CURVE_LEVELS:
        curve.setdefault(level, None)
    cats: dict[str, list[int]] = {}
    risks: dict[str, list[int]] = {}
    for h in targets:
        _m, _mon, cat, types = truth[h]
        hit = int(h in found)
        cats.setdefault(cat, [0, 0])
        cats[cat][0] += 1
        cats[cat][1] += hit
        for t in {_risk_group(x) for x in types}:
            risks.setdefault(t, [0, 0])
            risks[t][0] += 1
            risks[t][1] += hit
    return Report(
        as_of=when,
        households=len(scored),
        targets=len(targets),
        warnings=len(pushed),
        found=len(found),
        candidates=len(candidates),
        candidates_found=len(cand_found),
        curve={k: curve[k] for k in CURVE_LEVELS},
        recall_at_k=recall_at_k,
        by_category=[Breakdown(k, v[0], v[1]) for k, v in sorted(cats.items())],
        by_risk_type=[Breakdown(k, v[0], v[1]) for k, v in sorted(risks.items())],
    )
