"""screen() with a learned ranker (a test double here; pipeline/model.py provides the real one)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fangpin.pipeline.lake import Lake
from fangpin.pipeline.policy import load_policy
from fangpin.pipeline.screen import screen
from screening.tinylake import County


class IncomeRanker:
    """Probability falls with net income: a deterministic stand-in for the LightGBM model."""

    version = "fake-1"
    grade_high = 0.8
    grade_medium = 0.5

    def __init__(self) -> None:
        self.explained: list[int] = []

    def predict(self, portraits: pa.Table) -> np.ndarray:
        income = np.asarray(portraits.column("net_income_pc_12m").to_pylist(), dtype=np.float64)
        return np.clip(1.0 - income / 40000.0, 0.0, 1.0)

    def explain(self, portraits: pa.Table, top: int = 3) -> list[str]:
        keys = portraits.column("household_key").to_pylist()
        self.explained.extend(keys)
        return [f"户{k}：人均纯收入低" for k in keys]


def _lake(tmp: Lake) -> Lake:
    c = County()
    c.household(1, workers=0)  # no job: below the line, rule INC-01 matches
    c.household(2, workers=1, wage=1200)  # poor-ish, over the line: no rule, probability ≈ 0.6
    c.household(3, workers=2, wage=6000)  # well off: no rule, low probability
    c.commit(tmp)
    return tmp


def test_ranker_scores_grades_and_explains_pushed_rows_only(lake: Lake) -> None:
    ranker = IncomeRanker()
    r = screen(_lake(lake), "2026-10", load_policy(), ranker=ranker)
    assert r.model_version == "fake-1"
    rows = {row["household_key"]: row for row in r.all_scored.to_pylist()}
    assert rows[1]["prompt"] == "verify" and rows[1]["rules"] == "INC-01"
    assert rows[1]["score"] == round(rows[1]["score"], 4) and rows[1]["grade"] == "高"
    # probability ≥ grade_medium without a rule: still a verification candidate, type 99
    assert rows[2]["prompt"] == "verify" and rows[2]["rules"] == "" and rows[2]["grade"] == "中"
    assert rows[2]["risk_types"] == "99" and rows[2]["category"] == "marginal"
    assert rows[3]["prompt"] == "" and rows[3]["grade"] == "" and rows[3]["explanation"] == ""
    assert sorted(ranker.explained) == [1, 2]
    assert rows[1]["explanation"] == "户1：人均纯收入低"


def test_without_ranker_rule_score_and_no_model_version(lake: Lake) -> None:
    r = screen(_lake(lake), "2026-10", load_policy())
    assert r.model_version == ""
    rows = {row["household_key"]: row for row in r.all_scored.to_pylist()}
    assert rows[2]["prompt"] == "" and set(r.all_scored.column("explanation").to_pylist()) == {""}


def test_households_restricts_the_screen(lake: Lake) -> None:
    l2 = _lake(lake)
    full = {row["household_key"]: row for row in screen(l2, "2026-10", load_policy()).all_scored.to_pylist()}
    one = screen(l2, "2026-10", load_policy(), households=[1, 3])
    assert sorted(one.all_scored.column("household_key").to_pylist()) == [1, 3]
    for row in one.all_scored.to_pylist():
        assert row == full[row["household_key"]]
