"""The safe start measured (docs/model.md "Shipped default", ADR 0031): on a simulated county unlike the
training worlds, per month, the rankings `fangpin screen --all` produces with a model, the model's own
probability (no blend), `--rules-only`, and `--rules-only` with the income comparison before the income
interval (INC-01 on the point estimate); and how many households INC-01 calls below the line each way.

    python benchmarks/worlds_far.py SIM_DIR [MODEL_DIR] --months 2026-04,2026-05,2026-06

SIM_DIR is what `fangpin synth --out` wrote (its lake at SIM_DIR/lake, built when absent); MODEL_DIR
defaults to the shipped model.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pyarrow.compute as pc

from fangpin.pipeline.evaluate import Report, evaluate, per_true_household
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.model import RiskModel, load_model, shipped_model, simulation_lake
from fangpin.pipeline.policy import DEFAULT_POLICY, Policy, load_policy, parse_policy
from fangpin.pipeline.screen import screen

OLD_INC = '"net_income_pc_12m < line"'


def point_estimate_policy() -> Policy:
    """The shipped policy as it compared income before the interval: INC-01 on the net income alone
    (unseen_income_spread 0 also makes the upper end equal the net income)."""
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    new_when = '"net_income_pc_12m < line AND (income_coverage >= min_income_coverage OR net_income_pc_high_12m < line)"'
    assert new_when in text, "the shipped INC-01 changed: update this benchmark"
    text = text.replace(new_when, OLD_INC).replace("params:\n", "params:\n  unseen_income_spread: 0\n", 1)
    return parse_policy(text, source="point-estimate")


def _row(name: str, r: Report, inc: int | None = None) -> str:
    per = [per_true_household(r, level) for level in (0.8, 0.9)]
    cells = " | ".join("—" if math.isinf(x) else f"{x:.2f}" for x in per)
    return f"| {name} | {cells} | {r.recall_at_k:.2f} | {'' if inc is None else inc} |"


def _inc01(result_rules: pc.StringArray) -> int:
    return int(pc.sum(pc.match_substring(result_rules, "INC-01")).as_py() or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sim", type=Path)
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--months", required=True)
    args = parser.parse_args()
    root: Path = args.sim
    lake = Lake(root / "lake") if (root / "lake" / "_deliveries").is_dir() else None
    lake = lake or simulation_lake(root / "deliveries", root / "lake")
    model: RiskModel = load_model(args.model) if args.model else shipped_model()
    policy, old = load_policy(), point_estimate_policy()
    truth = root / "truth"
    print(f"model {model.version}; county {root}")
    print("| as_of / ranking | 80 % | 90 % | recall@K | INC-01 matches |")
    print("|---|---|---|---|---|")
    for month in args.months.split(","):
        blended = screen(lake, month, policy, ranker=model, include_all=True)
        report = evaluate(blended, truth, month, model=model)
        rules = screen(lake, month, policy, include_all=True)
        before = screen(lake, month, old, include_all=True)
        r_rules, r_before = evaluate(rules, truth, month), evaluate(before, truth, month)
        print(f"| **{month}** ({report.targets} targets of {report.households}) | | | | |")
        print(_row("model, blended (`fangpin screen`)", report))
        if report.model is not None:
            m = report.model
            per = [m.per_found(level, report.targets) for level in (0.8, 0.9)]
            print(f"| model alone (no blend) | {per[0]:.2f} | {per[1]:.2f} | {m.recall_at_k:.2f} | |")
        print(_row("`--rules-only`", r_rules, _inc01(rules.all_scored.column("rules"))))
        print(
            _row(
                "`--rules-only`, income as a point (before)",
                r_before,
                _inc01(before.all_scored.column("rules")),
            )
        )


if __name__ == "__main__":
    main()
