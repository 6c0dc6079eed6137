"""Evaluation of a screening run against the simulator's hidden truth — the ONLY module that reads truth/.

Targets: households that truly meet the criteria in the as_of month and are NOT yet monitored
(truth `meets_criteria` and not `is_monitored`). Reported: recall and precision of the pushed verification
warnings, warnings per true household found, breakdowns by true category and true risk type, and the
ranking curve on all scored (unmonitored) households: warnings needed for 50…95 % recall and recall at
K = the number of true households.

With a learned model (`model=`, a `fangpin.pipeline.model.RiskModel`) the same is reported for the
model's calibrated probability: its whole curve, recall at K, and the capacity-based operating point —
the rule candidates (`prompt == verify`) ranked by probability within each village, the top `capacity`
pushed, as screening with the model pushes them — by category and risk type. The probabilities are
computed here from `result.portraits`, so this works whether or not screen() already ranked by the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fangpin.lib.periods import check_period
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.screen import UNMONITORED, ScreenResult

if TYPE_CHECKING:
    from fangpin.pipeline.model import RiskModel
    from fangpin.pipeline.policy import Policy

CURVE_LEVELS = (0.8, 0.9, 0.95)
FULL_CURVE = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
TARGET_PER_FOUND = {0.8: 3.0, 0.9: 6.0}  # issue #5: ≤ 3 warnings per true household at 80 %, ≤ 6 at 90 %


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
    model: ModelReport | None = None

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
        lines.extend(_breakdowns(self.by_category, self.by_risk_type))
        if self.model is not None:
            lines.extend(self.model.to_lines(self.targets))
        return "\n".join(lines)


def per_true_household(report: Report, level: float) -> float:
    """Warnings needed per true household found at `level` recall (inf when not reachable)."""
    n = report.curve.get(level)
    return n / math.ceil(level * report.targets) if n and report.targets else math.inf


def side_by_side(rankings: Sequence[tuple[str, Report]]) -> str:
    """The rankings' curves over the same households in one table (e.g. the model as `fangpin screen`
    ranks with it, and `--rules-only`): warnings per true household at 80 % / 90 % recall, recall in the
    top K (K = true households)."""
    lines = [
        "排序对比 rankings compared (unmonitored households, as `fangpin screen --all` ranks them):",
        f"  {'ranking':<40}{'80 %':>8}{'90 %':>8}{'recall@K':>10}",
    ]
    for name, r in rankings:
        cells = [f"{per_true_household(r, level):.2f}" for level in (0.8, 0.9)]
        lines.append(f"  {name:<40}{cells[0]:>8}{cells[1]:>8}{_pct(r.recall_at_k):>10}")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{x * 100:.1f}%"


def _breakdowns(by_category: list[Breakdown], by_risk_type: list[Breakdown], indent: str = "  ") -> list[str]:
    lines: list[str] = []
    for title, rows in (("按类别 by category", by_category), ("按风险类型 by risk type", by_risk_type)):
        lines.append(f"{indent}{title}:")
        lines.extend(
            f"{indent}  {b.key:<10} targets {b.targets:>5}  found {b.found:>5}  recall {_pct(b.recall)}"
            for b in rows
        )
    return lines


@dataclass(frozen=True)
class ModelReport:
    """The learned ranking: whole curve, recall at K, and the operating point within village capacity."""

    version: str
    curve: dict[float, int | None]  # recall level → warnings needed, households ranked by probability
    recall_at_k: float
    capacity: int  # warnings per village per month
    warnings: int  # pushed at the operating point
    found: int
    by_category: list[Breakdown] = field(default_factory=list)
    by_risk_type: list[Breakdown] = field(default_factory=list)
    auc: float = math.nan
    mean_probability_targets: float = math.nan
    mean_probability_others: float = math.nan

    def per_found(self, level: float, targets: int) -> float:
        n = self.curve.get(level)
        return n / math.ceil(level * targets) if n and targets else math.inf

    def meets_targets(self, targets: int) -> bool:
        return all(self.per_found(level, targets) <= limit for level, limit in TARGET_PER_FOUND.items())

    def to_lines(self, targets: int) -> list[str]:
        per = self.warnings / self.found if self.found else math.inf
        recall = self.found / targets if targets else math.nan
        lines = [
            f"  模型排序 learned ranking (model {self.version} alone, without the blend towards the rules;"
            f" AUC {self.auc:.3f}):",
            "    排序曲线 curve (unmonitored households by calibrated probability):",
        ]
        for level, n in self.curve.items():
            shown = str(n) if n is not None else "不可达 unreachable"
            per_level = f"{self.per_found(level, targets):.2f}" if n else "—"
            goal = TARGET_PER_FOUND.get(level)
            mark = (
                ""
                if goal is None
                else (
                    f"  (目标 target ≤ {goal:g}: {'达到 met' if n and self.per_found(level, targets) <= goal else '未达到 not met'})"
                )
            )
            lines.append(
                f"      recall {level * 100:.0f}%: {shown} warnings ({per_level} per true household){mark}"
            )
        lines.append(f"      recall at K={targets}: {_pct(self.recall_at_k)}")
        lines.append(
            f"    平均概率 mean probability: targets {self.mean_probability_targets:.3f}, "
            f"others {self.mean_probability_others:.3f}"
        )
        lines.append(
            f"    容量内推送 operating point (capacity {self.capacity}/village, rule candidates by probability): "
            f"{self.warnings} warnings, found {self.found}, recall {_pct(recall)}, {per:.2f} per found"
        )
        lines.extend(_breakdowns(self.by_category, self.by_risk_type, indent="    "))
        return lines


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


def ranking_curve(
    ranked: Sequence[str], targets: set[str], levels: Sequence[float] = CURVE_LEVELS
) -> tuple[dict[float, int | None], float]:
    """Warnings needed (ranked households from the top) to reach each recall level; recall at K = #targets."""
    curve: dict[float, int | None] = {}
    needed = {level: math.ceil(level * len(targets)) for level in levels}
    hits = 0
    recall_at_k = 0.0 if targets else math.nan
    for i, h in enumerate(ranked, start=1):
        if h in targets:
            hits += 1
        for level, n in needed.items():
            if level not in curve and n and hits >= n:
                curve[level] = i
        if i == len(targets):
            recall_at_k = hits / len(targets)
    return {level: curve.get(level) for level in levels}, recall_at_k


def _tally(
    targets: set[str], found: set[str], truth: dict[str, tuple[bool, bool, str, list[str]]]
) -> tuple[list[Breakdown], list[Breakdown]]:
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
    return (
        [Breakdown(k, v[0], v[1]) for k, v in sorted(cats.items())],
        [Breakdown(k, v[0], v[1]) for k, v in sorted(risks.items())],
    )


def model_report(
    result: ScreenResult,
    model: RiskModel,
    truth: dict[str, tuple[bool, bool, str, list[str]]],
    targets: set[str],
    capacity: int,
) -> ModelReport:
    """The learned ranking on the same households: probabilities from the result's portraits."""
    from fangpin.pipeline.model import _auc

    portraits = result.portraits
    if "line" not in portraits.column_names:
        portraits = portraits.append_column(
            "line", pa.array([result.line] * portraits.num_rows, pa.float64())
        )
    prob = model.predict(portraits)
    hnos = portraits.column("household_no").to_pylist()
    status = portraits.column("monitor_status").to_pylist()
    p_of = dict(zip(hnos, prob.tolist(), strict=True))
    unmonitored = [(p, h) for p, h, s in zip(prob.tolist(), hnos, status, strict=True) if s in UNMONITORED]
    unmonitored.sort(key=lambda t: (-t[0], t[1]))
    ranked = [h for _p, h in unmonitored]
    curve, recall_at_k = ranking_curve(ranked, targets, FULL_CURVE)
    import numpy as np

    y = np.array([1.0 if h in targets else 0.0 for h in ranked])
    s = np.array([p for p, _h in unmonitored])
    # operating point: rule candidates, ranked by probability within their village, top `capacity` pushed
    by_village: dict[str, list[tuple[float, str]]] = {}
    for r in result.all_scored.select(["household_no", "village_code", "prompt"]).to_pylist():
        if r["prompt"] == "verify":
            by_village.setdefault(r["village_code"], []).append(
                (p_of.get(r["household_no"], 0.0), r["household_no"])
            )
    pushed: set[str] = set()
    for cands in by_village.values():
        cands.sort(key=lambda t: (-t[0], t[1]))
        pushed.update(h for _p, h in cands[:capacity])
    found = pushed & targets
    by_category, by_risk_type = _tally(targets, found, truth)
    return ModelReport(
        version=model.version,
        curve=curve,
        recall_at_k=recall_at_k,
        capacity=capacity,
        warnings=len(pushed),
        found=len(found),
        by_category=by_category,
        by_risk_type=by_risk_type,
        auc=_auc(y, s) if len(y) else math.nan,
        mean_probability_targets=float(s[y == 1].mean()) if y.sum() else math.nan,
        mean_probability_others=float(s[y == 0].mean()) if (y == 0).sum() else math.nan,
    )


def evaluate(
    result: ScreenResult,
    truth_dir: Path,
    as_of: str | None = None,
    *,
    model: RiskModel | None = None,
    capacity: int = 3,
) -> Report:
    """Score `result` against the truth; with `model`, also the learned ranking (curve + operating point).

    Reads the simulator's `truth/` — the only screening module allowed to.
    """
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
    curve, recall_at_k = ranking_curve(ranked, targets, CURVE_LEVELS)
    by_category, by_risk_type = _tally(targets, found, truth)
    learned = model_report(result, model, truth, targets, capacity) if model is not None else None
    return Report(
        as_of=when,
        households=len(scored),
        targets=len(targets),
        warnings=len(pushed),
        found=len(found),
        candidates=len(candidates),
        candidates_found=len(cand_found),
        curve=curve,
        recall_at_k=recall_at_k,
        by_category=by_category,
        by_risk_type=by_risk_type,
        model=learned,
    )


def compare_rankings(
    result: ScreenResult,
    truth_dir: Path,
    rankers: Sequence[tuple[str, RiskModel]],
    *,
    capacity: int = 3,
) -> str:
    """One table: for each model and for the rule score (`result` screened without a ranker), warnings
    per true household at 80 % and 90 % recall and recall in the top K, over the households the roster
    does not mark as monitored."""
    report = evaluate(result, truth_dir, result.as_of)
    truth = load_truth(Path(truth_dir), result.as_of)
    targets = {h for h, (meets, monitored, _c, _r) in truth.items() if meets and not monitored}
    rows: list[tuple[str, dict[float, int | None], float]] = []
    for label, model in rankers:
        m = model_report(result, model, truth, targets, capacity)
        rows.append((f"{label} {m.version}", m.curve, m.recall_at_k))
    rows.append(("rules-only", report.curve, report.recall_at_k))

    def per(curve: dict[float, int | None], level: float) -> str:
        n = curve.get(level)
        return f"{n / math.ceil(level * len(targets)):.2f}" if n and targets else "—"

    lines = [
        f"排序比较 rankings as of {result.as_of}: {report.households} 户 households, "
        f"{len(targets)} 户应纳未纳 true & not yet monitored",
        f"  {'ranking':<44} {'80%':>7} {'90%':>7} {'recall@K':>9}",
    ]
    for name, curve, at_k in rows:
        lines.append(f"  {name:<44} {per(curve, 0.8):>7} {per(curve, 0.9):>7} {_pct(at_k):>9}")
    lines.append("  (warnings per true household found at 80 % / 90 % recall; targets ≤ 3 / ≤ 6)")
    return "\n".join(lines)


# --- training examples from the simulator (labels = the targets above) -------------------------------


def examples_from_simulation(
    lake: Lake,
    sim_dir: Path,
    periods: Sequence[str],
    *,
    policy: Policy | None = None,
    progress: Callable[[str], None] | None = None,
) -> pa.Table:
    """Labelled examples from a simulated county: portraits as of each period (point-in-time, from the
    lake), households not monitored by the roster, label = the simulator's truth for that month (meets
    the criteria and not yet monitored — the targets evaluate.py uses). Portraits are built with the
    policy's parameters (default: the shipped policy), as screen() builds them; `line` is its line.

    `sim_dir` is the simulator's output (DIR with deliveries/ and truth/, or DIR/truth itself). Reads
    the truth: allowed ONLY for training and evaluation (screening never calls it).
    """
    from fangpin.pipeline.model import UNMONITORED as UNMON
    from fangpin.pipeline.model import ModelError
    from fangpin.pipeline.policy import load_policy
    from fangpin.pipeline.portrait import build_portraits
    from fangpin.pipeline.screen import RULE_SCORE, rule_scores

    pol = policy or load_policy()

    root = Path(sim_dir)
    path = (root if root.name == "truth" else root / "truth") / "household_month.parquet"
    if not path.exists():
        raise ModelError(f"no simulator truth at {path.parent} (pass the DIR `fangpin synth --out` wrote)")
    parts: list[pa.Table] = []
    for period in periods:
        check_period(period)
        truth = pq.read_table(
            path,
            columns=["household_no", "period", "meets_criteria", "is_monitored"],
            filters=[("period", "=", period)],
        )
        if truth.num_rows == 0:
            raise ModelError(f"the truth has no month {period}")
        target = pc.and_(truth.column("meets_criteria"), pc.invert(truth.column("is_monitored")))
        label_of = dict(zip(truth.column("household_no").to_pylist(), target.to_pylist(), strict=True))
        params = pol.param_values(int(period[:4]))
        line = params["line"]
        portraits = build_portraits(lake, period, params=params)
        # the rule score: the model calibrates it to blend towards where it is unsure (ADR 0031)
        portraits = portraits.append_column(
            RULE_SCORE, pa.array(rule_scores(lake.engine, pol, params, portraits), pa.float64())
        )
        keep = pc.is_in(portraits.column("monitor_status"), pa.array(list(UNMON)))
        portraits = portraits.filter(keep)
        labels = [bool(label_of.get(h, False)) for h in portraits.column("household_no").to_pylist()]
        portraits = (
            portraits.append_column("period", pa.array([period] * portraits.num_rows, pa.string()))
            .append_column("line", pa.array([line] * portraits.num_rows, pa.float64()))
            .append_column("label", pa.array(labels, pa.bool_()))
        )
        parts.append(portraits)
        if progress:
            progress(f"{period}: {portraits.num_rows} households, {sum(labels)} at risk")
    return pa.concat_tables(parts, promote_options="permissive")
