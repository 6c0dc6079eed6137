"""Screening: portraits → policy rules → score, grade, category, reasons → pushed within capacity.

`screen(lake, as_of, policy)` is the rule-based baseline (docs/screening.md). The score orders households
for grid workers' limited time; the learned (LightGBM) ranking of a later slice replaces `_score_sql`
and keeps everything else (rules give the risk types and reasons; capacity and prompts stay).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fangpin.pipeline.engine import DuckDBEngine, Engine
from fangpin.pipeline.lake import Lake, check_period
from fangpin.pipeline.policy import RISK_TYPES, Policy
from fangpin.pipeline.portrait import build_portraits, previous_period

MAX_RISK_TYPES = 5
UNMONITORED = ("none", "eliminated")  # eliminated households can re-enter: screened like the others
CATEGORY_ZH = {"unstable": "脱贫不稳定户", "marginal": "边缘易致贫户", "sudden": "突发严重困难户"}
GRADE_ZH = {"high": "高", "medium": "中", "low": "低"}
MODEL_ONLY_REASON = "未触发筛查规则，风险排序模型评估其返贫致贫风险较高"
OUTPUT_SCHEMA = pa.schema(
    [
        ("household_key", pa.int64()),
        ("household_no", pa.string()),
        ("village_code", pa.string()),
        ("household_type", pa.string()),
        ("monitor_status", pa.string()),
        ("score", pa.float64()),
        ("grade", pa.string()),
        ("risk_types", pa.string()),  # "01;02" (codes, up to 5, by weight)
        ("category", pa.string()),  # unstable | marginal | sudden | "" (no rule matched)
        ("rules", pa.string()),  # matched rule ids ";"-joined
        ("reasons", pa.string()),  # Chinese, "；"-joined
        ("prompt", pa.string()),  # verify | adjust_assistance | consider_elimination | ""
        ("village_rank", pa.int64()),  # rank among the village's verify candidates (0 = not a candidate)
        ("pushed", pa.bool_()),
        ("net_income_pc_12m", pa.float64()),
        ("explanation", pa.string()),  # the ranker's Chinese explanation (pushed rows only; "" otherwise)
    ]
)


class Ranker(Protocol):
    """The learned risk ranking (pipeline/model.py implements it); screen() only needs these members."""

    version: str
    grade_high: float
    grade_medium: float

    def predict(
        self, portraits: pa.Table
    ) -> np.ndarray: ...  # calibrated probability, one per portrait row, order kept

    def explain(self, portraits: pa.Table, top: int = 3) -> list[str]: ...  # Chinese explanation per row


@dataclass(frozen=True)
class ScreenResult:
    as_of: str
    policy_id: str
    policy_hash: str
    line: float
    warnings: pa.Table  # pushed verification warnings + prompts for monitored households
    all_scored: pa.Table  # every household, ranked by score (descending)
    portraits: pa.Table
    model_version: str = ""  # the ranker's version; "" when the rule score ranked


def _match_sql(policy: Policy, params: dict[str, float]) -> str:
    par = ", ".join(f"CAST({float(v)!r} AS DOUBLE) AS {k}" for k, v in sorted(params.items()))
    cols = []
    for i, r in enumerate(policy.rules):
        expr = f"COALESCE(({r.when}), FALSE)"
        if r.unless:
            expr += f" AND NOT COALESCE(({r.unless}), FALSE)"
        cols.append(f"({expr}) AS __r{i}")
    band = f"({policy.income_band!r} * line)"
    shortfall = f"LEAST(GREATEST(({band} - net_income_pc_12m) / {band}, 0.0), 1.0)"
    weights = " + ".join(
        f"CASE WHEN __r{i} THEN {r.weight!r} ELSE 0.0 END" for i, r in enumerate(policy.rules)
    )
    return f"""WITH __params AS (SELECT {par}),
__m AS (SELECT p.household_key, {", ".join(cols)}, {shortfall} AS __shortfall
        FROM portraits p CROSS JOIN __params)
SELECT *, ({weights}) + {policy.shortfall_weight!r} * __shortfall AS __score FROM __m ORDER BY household_key"""  # noqa: S608 - validated policy expressions


def _matches(portraits: pa.Table, policy: Policy, params: dict[str, float], engine: Engine) -> pa.Table:
    return engine.query(_match_sql(policy, params), {"portraits": portraits})


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if -1.0 < value < 1.0 and value != 0.0:
            return f"{value * 100:.0f}%"
        if abs(value) >= 10000:
            return f"{value / 10000:.1f}万"
        return f"{value:,.0f}"
    return str(value)


def _reason(template: str, row: dict[str, Any], params: dict[str, float]) -> str:
    values = {**{k: _fmt(v) for k, v in params.items()}, **{k: _fmt(v) for k, v in row.items()}}
    out = template
    for key, text in values.items():
        out = out.replace("{" + key + "}", text)
    return out


def _grade_of(score: float, high: float, medium: float) -> str:
    if score >= high:
        return GRADE_ZH["high"]
    if score >= medium:
        return GRADE_ZH["medium"]
    return GRADE_ZH["low"]


def _only(table: pa.Table, households: Sequence[int] | None) -> pa.Table:
    if households is None:
        return table
    keys = pa.array(sorted(set(households)), pa.int64())
    return table.filter(pc.is_in(table.column("household_key"), value_set=keys))


def screen(
    lake: Lake,
    as_of: str,
    policy: Policy,
    *,
    engine: Engine | None = None,
    include_all: bool = False,
    ranker: Ranker | None = None,
    households: Sequence[int] | None = None,
) -> ScreenResult:
    """Screen every household as of `as_of` (point-in-time: only what the lake held by then).

    `ranker`: the learned ranking replaces the rule score (its probability, its grade thresholds); a
    household is a verification candidate when a rule matched OR its probability ≥ ranker.grade_medium.
    `households`: screen only these household_keys (the incremental path after one event).
    """
    check_period(as_of)
    eng = engine or lake.engine
    if not isinstance(eng, DuckDBEngine):  # the Spark engine comes with its own slice
        raise NotImplementedError(f"screening on {eng.dialect.name} is not available yet")
    year = int(as_of[:4])
    params = policy.param_values(year)
    portraits = _only(build_portraits(lake, as_of, engine=eng, params=params), households)
    cur = _matches(portraits, policy, params, eng)
    # risk types already known for monitored households: those matched a month earlier (the lake holds no
    # recorded risk types of monitored households; the warnings app will supply them)
    prev_as_of = previous_period(as_of)
    prev_params = policy.param_values(int(prev_as_of[:4]))
    prev_portraits = _only(build_portraits(lake, prev_as_of, engine=eng, params=prev_params), households)
    prev = _matches(prev_portraits, policy, prev_params, eng)
    prev_types: dict[int, set[str]] = {}
    nrules = len(policy.rules)
    prev_cols = [prev.column(f"__r{i}").to_pylist() for i in range(nrules)]
    for j, key in enumerate(prev.column("household_key").to_pylist()):
        prev_types[key] = {policy.rules[i].risk_type for i in range(nrules) if prev_cols[i][j]}

    rows = portraits.to_pylist()
    cur_cols = [cur.column(f"__r{i}").to_pylist() for i in range(nrules)]
    scores = cur.column("__score").to_pylist()
    probs: list[float] | None = None
    if ranker is not None:
        probs = [float(x) for x in np.asarray(ranker.predict(portraits), dtype=np.float64)]
        high, medium = ranker.grade_high, ranker.grade_medium
    else:
        high, medium = policy.grade_high, policy.grade_medium
    line = params["line"]
    records: list[dict[str, Any]] = []
    for j, row in enumerate(rows):
        matched = [policy.rules[i] for i in range(nrules) if cur_cols[i][j]]
        score = round(float(scores[j]) if probs is None else probs[j], 4)
        by_type: dict[str, float] = {}
        for r in matched:
            by_type[r.risk_type] = by_type.get(r.risk_type, 0.0) + r.weight
        # specific causes first; 99 其他 only when nothing more specific is known
        types = sorted(by_type, key=lambda t: (t == "99", -by_type[t], t))[:MAX_RISK_TYPES]
        status = row["monitor_status"]
        model_only = probs is not None and not matched and probs[j] >= medium
        prompt = ""
        if status in UNMONITORED and (matched or model_only):
            prompt = "verify"
        elif status == "monitored":
            new = set(types) - prev_types.get(row["household_key"], set())
            if new:
                prompt = "adjust_assistance"
                types = [t for t in types if t in new]
                matched = [r for r in matched if r.risk_type in new]
            elif (
                not matched
                and not prev_types.get(row["household_key"])
                and row["income_pc_12m"] >= params["elimination_income_factor"] * line
                and row["months_since_last_shock"] >= 6
                and row["able_working_members"] > 0
            ):
                prompt = "consider_elimination"
        category = ""
        by_type_cat = "unstable" if row["household_type"] == "former_poor" else "marginal"
        if matched:
            kinds = {r.kind for r in matched}
            below = row["net_income_pc_12m"] < line
            category = by_type_cat if below or "hardship" in kinds or kinds == {"income"} else "sudden"
        reasons = "；".join(_reason(r.reason_zh, row, params) for r in matched)
        if prompt == "verify" and model_only:
            types, category = ["99"], by_type_cat
            reasons = MODEL_ONLY_REASON
        if prompt == "consider_elimination":
            reasons = f"人均收入约{_fmt(row['income_pc_12m'])}元，稳定高于监测线，近6个月无新风险，可启动风险消除程序"
        records.append(
            {
                "household_key": row["household_key"],
                "household_no": row["household_no"],
                "village_code": row["village_code"],
                "household_type": row["household_type"],
                "monitor_status": status,
                "score": score,
                "grade": _grade_of(score, high, medium) if matched or model_only else "",
                "risk_types": ";".join(types),
                "category": category,
                "rules": ";".join(r.id for r in matched),
                "reasons": reasons,
                "prompt": prompt,
                "village_rank": 0,
                "pushed": False,
                "net_income_pc_12m": float(row["net_income_pc_12m"]),
                "explanation": "",
                "_j": j,
            }
        )
    # capacity: within each village, verification candidates by score; the top N are pushed
    by_village: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        if rec["prompt"] == "verify":
            by_village.setdefault(rec["village_code"], []).append(rec)
    for cands in by_village.values():
        cands.sort(key=lambda r: (-r["score"], r["household_no"]))
        for rank, rec in enumerate(cands, start=1):
            rec["village_rank"] = rank
            rec["pushed"] = rank <= policy.capacity_per_village
    # prompts for monitored households go to their assigned cadre and do not use verification capacity
    for rec in records:
        if rec["prompt"] in ("adjust_assistance", "consider_elimination"):
            rec["pushed"] = True
    if ranker is not None:
        pushed_j = [rec["_j"] for rec in records if rec["pushed"]]
        if pushed_j:
            texts = ranker.explain(portraits.take(pa.array(pushed_j, pa.int64())))
            for rec, text in zip([r for r in records if r["pushed"]], texts, strict=True):
                rec["explanation"] = text
    for rec in records:
        del rec["_j"]
    records.sort(key=lambda r: (-r["score"], r["household_no"]))
    all_scored = pa.Table.from_pylist(records, schema=OUTPUT_SCHEMA)
    warnings = pa.Table.from_pylist([r for r in records if r["pushed"]], schema=OUTPUT_SCHEMA)
    del include_all  # both tables are always built; the CLI chooses which one to write
    version = ranker.version if ranker is not None else ""
    return ScreenResult(
        as_of, policy.policy_id, policy.content_hash, line, warnings, all_scored, portraits, version
    )


def risk_types_zh(codes: str) -> str:
    return "、".join(f"{c}{RISK_TYPES.get(c, '')}" for c in codes.split(";") if c)
