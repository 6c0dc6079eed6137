# ruff: noqa: S608 - SQL built from validated policy expressions, quoted literals and fixed identifiers
"""Screening: portraits → policy rules → score, grade, category, reasons → pushed within capacity.

Set-based: `screen_sql()` generates ONE SQL statement (rule matching, risk types, category, prompts,
reasons with formatted values, village rank within capacity) through the `Dialect`, so the same logic
runs on DuckDB and Spark; policy expressions, written and validated in DuckDB SQL, are transpiled with
sqlglot for other engines (`Dialect.expression`). Python only calls the ranker (vectorised) and
`ranker.explain()` on the pushed rows. docs/screening.md describes the rules; ADR 0012 the engines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.periods import check_period, previous_period
from fangpin.lib.risks import MAX_RISK_TYPES
from fangpin.pipeline.dialect import Dialect
from fangpin.pipeline.engine import Engine
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.policy import Policy, Rule
from fangpin.pipeline.portrait import build_portraits

UNMONITORED = ("none", "eliminated")  # eliminated households can re-enter: screened like the others
GRADE_ZH = {"high": "高", "medium": "中", "low": "低"}
RULE_SCORE = "rule_score"  # the column screen() adds to the ranker's input (rule_scores)
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
        ("net_income_pc_12m", pa.float64()),  # 元, to the fen (engines sum doubles in different orders)
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
    all_scored: pa.Table  # every household, ranked by score (descending); reasons on pushed rows only
    # unless screen(include_all=True)
    portraits: pa.Table
    model_version: str = ""  # the ranker's version; "" when the rule score ranked
    # seconds per stage (portraits, last_month, model, rules, explain): where a run's time went
    timings: dict[str, float] = field(default_factory=dict)


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
ELIMINATION_REASON = ("人均收入约", "元，稳定高于监测线，近6个月无新风险，可启动风险消除程序")


def _fmt(value: Any) -> str:
    """A value as reason text (Python side: parameters are formatted once, at SQL generation)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        if -1.0 < value < 1.0 and value != 0.0:
            return f"{value * 100:.0f}%"
        if abs(value) >= 10000:
            return f"{value / 10000:.1f}万"
        return f"{value:,.0f}"
    return str(value)


def _fmt_sql(d: Dialect, col: str, t: pa.DataType) -> str:
    """SQL for `_fmt` of a portrait column: 万 for ≥ 10,000, percentages for ratios, thousands separators."""
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        x = f"CAST({col} AS DOUBLE)"
        return (
            f"CASE WHEN {x} IS NULL OR isnan({x}) THEN '—'"
            f" WHEN {x} > -1.0 AND {x} < 1.0 AND {x} <> 0.0 THEN concat({d.fixed(f'{x} * 100', 0, False)}, '%')"
            f" WHEN ABS({x}) >= 10000 THEN concat({d.fixed(f'{x} / 10000', 1, False)}, '万')"
            f" ELSE {d.fixed(x, 0, True)} END"
        )
    if pa.types.is_boolean(t):
        return f"CASE WHEN {col} IS NULL THEN '—' WHEN {col} THEN '是' ELSE '否' END"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return f"COALESCE({col}, '—')"
    return f"COALESCE({d.to_text(col)}, '—')"


def _reason_sql(d: Dialect, template: str, schema: pa.Schema, params: Mapping[str, float]) -> str:
    """The reason_zh template as a SQL string expression (parameters inlined, columns formatted)."""
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        key = m.group(1)
        if key in params:
            value = _fmt(float(params[key]))
        elif key in schema.names:
            value = None
        else:  # validated at policy load; left as written
            continue
        if m.start() > pos:
            parts.append(d.literal(template[pos : m.start()]))
        parts.append(d.literal(value) if value is not None else _fmt_sql(d, key, schema.field(key).type))
        pos = m.end()
    if pos < len(template):
        parts.append(d.literal(template[pos:]))
    return f"concat({', '.join(parts)})" if len(parts) > 1 else (parts[0] if parts else "''")


def _params_cte(params: Mapping[str, float]) -> str:
    return "SELECT " + ", ".join(f"CAST({float(v)!r} AS DOUBLE) AS {k}" for k, v in sorted(params.items()))


def _rule_sql(d: Dialect, r: Rule) -> str:
    expr = f"COALESCE(({d.expression(r.when)}), FALSE)"
    if r.unless:
        expr += f" AND NOT COALESCE(({d.expression(r.unless)}), FALSE)"
    return f"({expr})"


def _any(terms: list[str]) -> str:
    return "(" + " OR ".join(terms) + ")" if terms else "FALSE"


def _rule_terms(d: Dialect, policy: Policy) -> tuple[list[str], str, str]:
    """The rule matches (`__r<i>` columns), the income shortfall (`__shortfall`) and the rule score over
    them: the rule score screen_sql ranks by without a model and rule_scores() hands to the model."""
    rules = policy.rules
    m_cols = [f"{_rule_sql(d, r)} AS __r{i}" for i, r in enumerate(rules)]
    band = f"({policy.income_band!r} * line)"
    # the point estimate: measured on the "far" world, a shortfall of the interval's middle ranked worse
    # (docs/model.md); the interval decides INC-01 only (docs/screening.md)
    shortfall = f"LEAST(GREATEST(({band} - net_income_pc_12m) / {band}, 0.0), 1.0)"
    weights = " + ".join(f"CASE WHEN __r{i} THEN {r.weight!r} ELSE 0.0 END" for i, r in enumerate(rules))
    raw = f"({weights}) + {policy.shortfall_weight!r} * __shortfall"
    return m_cols, shortfall, raw


def rule_scores(eng: Engine, policy: Policy, params: Mapping[str, float], portraits: pa.Table) -> np.ndarray:
    """The policy's rule score of every portrait row (row order kept): what `--rules-only` ranks by.
    The learned ranking blends towards it where it is unsure (model.RiskModel.predict, ADR 0031)."""
    if portraits.num_rows == 0:
        return np.empty(0)
    m_cols, shortfall, raw = _rule_terms(eng.dialect, policy)
    sql = f"""WITH __params AS ({_params_cte(params)}),
__m AS (SELECT p.household_key, {", ".join(m_cols)}, {shortfall} AS __shortfall
        FROM portraits p CROSS JOIN __params)
SELECT household_key, FLOOR(({raw}) * 1e4 + 0.5) / 1e4 AS rule_score FROM __m"""
    out = eng.query(sql, {"portraits": portraits})
    at = pc.index_in(portraits.column("household_key"), out.column("household_key"))
    return np.asarray(out.column("rule_score").take(at).to_numpy(zero_copy_only=False), dtype=np.float64)


def screen_sql(
    d: Dialect,
    policy: Policy,
    params: Mapping[str, float],
    prev_params: Mapping[str, float],
    schema: pa.Schema,
    *,
    ranker: tuple[float, float] | None = None,
    reasons: bool = True,
) -> str:
    """The whole screen as one statement over `portraits` and `prev_portraits` (see the module doc).

    `ranker` = (grade_high, grade_medium): `portraits` then carries `__prob` (rounded probability).
    `reasons=False`: the reasons column is '' (formatting them is the statement's costliest part, and
    every value in it is row-local: screen() formats them for the pushed rows in a second, small run).
    """
    rules = policy.rules
    types = sorted({r.risk_type for r in rules})
    line = float(params["line"])
    lit = d.literal
    # 1. rules, weights per risk type, last month's risk types
    m_cols, shortfall, raw = _rule_terms(d, policy)
    # FLOOR(x·10⁴ + ½)/10⁴: IEEE operations only, so every engine rounds alike
    score = "__prob" if ranker else f"FLOOR(({raw}) * 1e4 + 0.5) / 1e4"
    of_type = {t: [i for i, r in enumerate(rules) if r.risk_type == t] for t in types}
    m = [f"{_any([f'__r{i}' for i in of_type[t]])} AS __m{t}" for t in types]
    w = [
        "("
        + " + ".join(f"CASE WHEN __r{i} THEN {rules[i].weight!r} ELSE 0.0 END" for i in of_type[t])
        + f") AS __w{t}"
        for t in types
    ]
    prev_m = [f"{_any([_rule_sql(d, rules[i]) for i in of_type[t]])} AS __pm{t}" for t in types]

    # 2. order of risk types: specific before 99, heavier first, then by code
    def before(u: str, t: str) -> str:
        if (u == "99") != (t == "99"):
            return "TRUE" if t == "99" else "FALSE"
        return f"(__w{u} > __w{t}" + (f" OR __w{u} = __w{t})" if u < t else ")")

    rank = [
        f"1 + {' + '.join([f'CASE WHEN __m{u} AND {before(u, t)} THEN 1 ELSE 0 END' for u in types if u != t] or ['0'])} AS __k{t}"
        for t in types
    ]
    top = [f"(__m{t} AND __k{t} <= {MAX_RISK_TYPES}) AS __top{t}" for t in types]
    new = [
        f"(__m{t} AND __k{t} <= {MAX_RISK_TYPES} AND NOT COALESCE(__pm{t}, FALSE)) AS __new{t}" for t in types
    ]
    prev_any = _any([f"COALESCE(__pm{t}, FALSE)" for t in types])
    any_rule = _any([f"__r{i}" for i in range(len(rules))])
    unmonitored = ", ".join(lit(s) for s in UNMONITORED)
    model_only = f"(NOT __any AND __score >= {ranker[1]!r})" if ranker else "FALSE"
    factor = float(params["elimination_income_factor"])
    prompt = f"""CASE WHEN monitor_status IN ({unmonitored}) AND (__any OR __model_only) THEN 'verify'
    WHEN monitor_status = 'monitored' AND {_any([f"__new{t}" for t in types])} THEN 'adjust_assistance'
    WHEN monitor_status = 'monitored' AND NOT __any AND NOT __prev_any
      AND income_pc_12m >= {factor * line!r} AND months_since_last_shock >= 6 AND able_working_members > 0
      THEN 'consider_elimination'
    ELSE '' END"""
    # 3. what the warning says: included rules (a monitored household's new risk types only)
    inc = [
        f"(__r{i} AND (__prompt <> 'adjust_assistance' OR __new{r.risk_type})) AS __i{i}"
        for i, r in enumerate(rules)
    ]
    sel = {t: f"(CASE WHEN __prompt = 'adjust_assistance' THEN __new{t} ELSE __top{t} END)" for t in types}
    slots = [
        "CASE " + " ".join(f"WHEN {sel[t]} AND __k{t} = {k} THEN {lit(t)}" for t in types) + " END"
        for k in range(1, MAX_RISK_TYPES + 1)
    ]
    verify_model = "(__prompt = 'verify' AND __model_only)"
    types_sql = f"CASE WHEN {verify_model} THEN '99' ELSE concat_ws(';', {', '.join(slots)}) END"
    rules_sql = (
        f"concat_ws(';', {', '.join(f'CASE WHEN __i{i} THEN {lit(r.id)} END' for i, r in enumerate(rules))})"
    )
    rule_reasons = ", ".join(
        f"CASE WHEN __i{i} THEN {_reason_sql(d, r.reason_zh, schema, params)} END"
        for i, r in enumerate(rules)
    )
    elim = f"concat({lit(ELIMINATION_REASON[0])}, {_fmt_sql(d, 'income_pc_12m', schema.field('income_pc_12m').type)}, {lit(ELIMINATION_REASON[1])})"
    reasons_sql = f"""CASE WHEN __prompt = 'consider_elimination' THEN {elim}
    WHEN {verify_model} THEN {lit(MODEL_ONLY_REASON)}
    ELSE concat_ws('；', {rule_reasons}) END"""
    any_inc = _any([f"__i{i}" for i in range(len(rules))])
    # most households match nothing: their texts are '' without evaluating ~20 formatted CASEs each
    says = f"({any_inc} OR __prompt = 'consider_elimination' OR {verify_model})"
    hardship = _any([f"__i{i}" for i, r in enumerate(rules) if r.kind == "hardship"])
    not_income = _any([f"__i{i}" for i, r in enumerate(rules) if r.kind != "income"])
    by_type = "CASE WHEN household_type = 'former_poor' THEN 'unstable' ELSE 'marginal' END"
    category = f"""CASE WHEN {verify_model} THEN {by_type}
    WHEN NOT {any_inc} THEN ''
    WHEN net_income_pc_12m < {line!r} OR {hardship} OR NOT {not_income} THEN {by_type}
    ELSE 'sudden' END"""
    high, medium = ranker if ranker else (policy.grade_high, policy.grade_medium)
    grade = f"""CASE WHEN NOT (__any OR __model_only) THEN ''
    WHEN __score >= {float(high)!r} THEN {lit(GRADE_ZH["high"])}
    WHEN __score >= {float(medium)!r} THEN {lit(GRADE_ZH["medium"])} ELSE {lit(GRADE_ZH["low"])} END"""
    return f"""WITH __params AS ({_params_cte(params)}),
__pparams AS ({_params_cte(prev_params)}),
__m AS (SELECT p.*, {", ".join(m_cols)}, {shortfall} AS __shortfall FROM portraits p CROSS JOIN __params),
__pm AS (SELECT p.household_key AS __pkey, {", ".join(prev_m)} FROM prev_portraits p CROSS JOIN __pparams),
__t AS (SELECT __m.*, {", ".join(m + w)}, {any_rule} AS __any, {score} AS __score
        FROM __m),
__u AS (SELECT __t.*, __pm.*, {", ".join(rank)} FROM __t LEFT JOIN __pm ON __pm.__pkey = __t.household_key),
__v AS (SELECT __u.*, {", ".join(top + new)}, {prev_any} AS __prev_any, {model_only} AS __model_only FROM __u),
__w AS (SELECT __v.*, {prompt} AS __prompt FROM __v),
__x AS (SELECT __w.*, {", ".join(inc)} FROM __w),
__y AS (SELECT household_key, household_no, village_code, household_type, monitor_status,
  CAST(__score AS DOUBLE) AS score, {grade} AS grade,
  CASE WHEN {says} THEN {types_sql} ELSE '' END AS risk_types, {category} AS category,
  CASE WHEN {any_inc} THEN {rules_sql} ELSE '' END AS rules,
  {f"CASE WHEN {says} THEN {reasons_sql} ELSE '' END" if reasons else "''"} AS reasons, __prompt AS prompt,
  FLOOR(CAST(net_income_pc_12m AS DOUBLE) * 1e2 + 0.5) / 1e2 AS net_income_pc_12m
  FROM __x),
__rank AS (SELECT household_key AS __rkey, ROW_NUMBER() OVER (
    PARTITION BY village_code ORDER BY score DESC, household_no, household_key) AS __village_rank
  FROM __y WHERE prompt = 'verify'),
__z AS (SELECT __y.*, COALESCE(__village_rank, 0) AS village_rank
  FROM __y LEFT JOIN __rank ON __rank.__rkey = __y.household_key)
SELECT household_key, household_no, village_code, household_type, monitor_status, score, grade, risk_types,
  category, rules, reasons, prompt, CAST(village_rank AS BIGINT) AS village_rank,
  CASE WHEN prompt = 'verify' THEN village_rank <= {int(policy.capacity_per_village)}
       WHEN prompt IN ('adjust_assistance', 'consider_elimination') THEN TRUE ELSE FALSE END AS pushed,
  net_income_pc_12m, '' AS explanation
FROM __z ORDER BY score DESC, household_no, household_key"""


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

    `ranker`: the learned ranking replaces the rule score (its probability rounded to 6 decimals, its
    grade thresholds); a household is a verification candidate when a rule matched OR its rounded
    probability ≥ ranker.grade_medium (risk type 99, category by household type, then). Capacity ranks
    candidates by score per village. `households`: screen only these household_keys (the incremental
    path: the lake is read for them only); village ranks and `pushed` are then relative to the screened
    households — the caller weighs them against the warnings a village already has this month.
    `include_all`: reasons for every household in `all_scored` (`fangpin screen --all`), not only for
    the pushed ones (formatting ~1 million households' reasons costs seconds at province scale).
    """
    check_period(as_of)
    eng = engine or lake.engine
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        timings[stage] = round(now - clock[0], 3)
        clock[0] = now

    params = policy.param_values(int(as_of[:4]))
    prev_as_of = previous_period(as_of)
    prev_params = policy.param_values(int(prev_as_of[:4]))
    portraits = build_portraits(lake, as_of, engine=eng, params=params, households=households)
    lap("portraits")
    # risk types already known for monitored households: those matched a month earlier (the lake holds no
    # recorded risk types of monitored households; the warnings app will supply them). Only monitored
    # households' prompts look a month back: last month's portraits of those households alone.
    monitored = portraits.filter(pc.equal(portraits.column("monitor_status"), "monitored"))
    if monitored.num_rows == 0:
        prev = portraits.schema.empty_table()
    elif households is not None:
        prev = build_portraits(lake, prev_as_of, engine=eng, params=prev_params, households=households)
    else:
        keys = monitored.select(["household_key"])
        prev = build_portraits(lake, prev_as_of, engine=eng, params=prev_params, only=keys)
    lap("last_month")
    scored_input = portraits
    grades = None
    ranker_input = portraits
    if ranker is not None:
        if "line" not in portraits.schema.names:
            # the model reads the monitoring line of the screened year (8,000 for 2025, not the latest)
            ranker_input = portraits.append_column(
                "line", pa.array(np.full(portraits.num_rows, float(params["line"])), pa.float64())
            )
        # where the model is unsure it blends towards the rule score (RiskModel.predict)
        ranker_input = ranker_input.append_column(
            RULE_SCORE, pa.array(rule_scores(eng, policy, params, portraits), pa.float64())
        )
        # 6 decimals: fewer ties in the low tail than 4, and the same on every engine (rounded here)
        probs = np.round(np.asarray(ranker.predict(ranker_input), dtype=np.float64), 6)
        if probs.shape != (portraits.num_rows,):
            raise ValueError(
                f"ranker returned {probs.shape} probabilities for {portraits.num_rows} portraits"
            )
        scored_input = portraits.append_column("__prob", pa.array(probs, pa.float64()))
        grades = (float(ranker.grade_high), float(ranker.grade_medium))
        lap("model")
    sql = screen_sql(
        eng.dialect, policy, params, prev_params, portraits.schema, ranker=grades, reasons=include_all
    )
    out = eng.query(sql, {"portraits": scored_input, "prev_portraits": prev})
    all_scored = out.select(OUTPUT_SCHEMA.names).cast(OUTPUT_SCHEMA)
    pushed = all_scored.column("pushed")
    if not include_all and pc.any(pushed).as_py():
        # the reasons of the pushed rows: the same statement over those households only (a rule's
        # match, the prompt and the reason depend on the household's own row, not on the others)
        idx = pc.indices_nonzero(pc.fill_null(pushed, False))
        rows = pc.index_in(all_scored.column("household_key").take(idx), scored_input.column("household_key"))
        sql = screen_sql(eng.dialect, policy, params, prev_params, portraits.schema, ranker=grades)
        few = eng.query(sql, {"portraits": scored_input.take(rows), "prev_portraits": prev})
        at = pc.index_in(all_scored.column("household_key").take(idx), few.column("household_key"))
        all_scored = _set_pushed(all_scored, "reasons", few.column("reasons").take(at).cast(pa.string()))
    lap("rules")
    if ranker is not None and pc.any(pushed).as_py():
        idx = pc.indices_nonzero(pc.fill_null(pushed, False))
        keys = all_scored.column("household_key").take(idx)
        rows = pc.index_in(keys, value_set=portraits.column("household_key"))
        texts = pa.array(ranker.explain(ranker_input.take(rows)), pa.string())
        all_scored = _set_pushed(all_scored, "explanation", texts)
        lap("explain")
    warnings = all_scored.filter(all_scored.column("pushed"))
    version = ranker.version if ranker is not None else ""
    return ScreenResult(
        as_of,
        policy.policy_id,
        policy.content_hash,
        params["line"],
        warnings,
        all_scored,
        portraits,
        version,
        timings,
    )


def _set_pushed(table: pa.Table, column: str, texts: pa.Array | pa.ChunkedArray) -> pa.Table:
    """`column` = the texts on the pushed rows (in their order: indices_nonzero ascends, as the mask's
    true positions do), '' on every other row."""
    blank = pc.fill_null(pa.nulls(table.num_rows, pa.string()), "")
    mask = pc.fill_null(table.column("pushed"), False).combine_chunks()
    values = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    return table.set_column(
        table.schema.get_field_index(column), column, pc.replace_with_mask(blank, mask, values)
    )
