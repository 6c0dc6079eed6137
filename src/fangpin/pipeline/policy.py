"""Screening policy as configuration: monitoring lines, parameters, rules as SQL boolean expressions.

A policy file (YAML, see `policies/jx-default.yaml` and docs/screening.md):

    policy_id: jx-default
    province: "36"
    monitoring_lines: {2025: 8000, 2026: 8300}     # per capita per year (元)
    params: {name: number, ...}                    # usable by name in every expression
    grades: {high: 3.0, medium: 1.5}               # score thresholds for 高 / 中 (below: 低)
    capacity_per_village: 3                        # warnings pushed per village per month
    score: {shortfall_weight: 2.0, income_band: 1.5}
    rules:
      - {id, name_zh, risk_type, kind: income|hardship|shock, weight, when: "<SQL>", unless: "<SQL>",
         reason_zh: "<text with {column} placeholders>"}

Validation fails closed (`PolicyError`, naming the rule): every expression is bound by the engine against
a zero-row table with the portrait columns plus the parameters (`line` is the monitoring line of the
screened year). Unknown column, syntax error, a type that is not BOOLEAN, or an expression that binds
without any portrait column (a constant such as `true` or `line > 0`) is rejected at load time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from fangpin.lib.risks import RISK_TYPES
from fangpin.pipeline.portrait import DEFAULT_PARAMS, portrait_columns

KINDS = ("income", "hardship", "shock")
DEFAULT_POLICY = Path(__file__).with_name("policies") / "jx-default.yaml"
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?::[^}]*)?\}")


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    id: str
    name_zh: str
    risk_type: str
    kind: str
    when: str
    unless: str | None
    weight: float
    reason_zh: str


@dataclass(frozen=True)
class Policy:
    policy_id: str
    province: str
    name_zh: str
    monitoring_lines: dict[int, float]
    params: dict[str, float]
    rules: tuple[Rule, ...]
    grade_high: float
    grade_medium: float
    capacity_per_village: int
    shortfall_weight: float
    income_band: float
    content_hash: str
    source: str = field(repr=False, default="")

    def line(self, year: int) -> float:
        """The monitoring line for `year`; the latest configured earlier year when that year is missing."""
        if year in self.monitoring_lines:
            return self.monitoring_lines[year]
        earlier = [y for y in self.monitoring_lines if y <= year]
        if not earlier:
            raise PolicyError(
                f"no monitoring line configured for {year} or earlier (province {self.province})"
            )
        return self.monitoring_lines[max(earlier)]

    def param_values(self, year: int) -> dict[str, float]:
        return {**DEFAULT_PARAMS, **self.params, "line": self.line(year)}


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{what} must be a number, not {value!r}")
    return float(value)


def parse_policy(text: str, *, source: str = "<string>") -> Policy:
    """Parse and validate a policy (YAML text). Raises PolicyError naming the rule and the problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy is a YAML mapping")
    for key in ("policy_id", "province", "monitoring_lines", "rules"):
        if key not in data:
            raise PolicyError(f"{source}: missing '{key}'")
    lines_raw = data["monitoring_lines"]
    if not isinstance(lines_raw, dict) or not lines_raw:
        raise PolicyError("monitoring_lines must map year → line (元 per capita per year)")
    lines: dict[int, float] = {}
    for year, value in lines_raw.items():
        try:
            y = int(year)
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"monitoring_lines: {year!r} is not a year") from exc
        lines[y] = _num(value, f"monitoring_lines[{year}]")
        if not 1000 <= lines[y] <= 100000:
            raise PolicyError(f"monitoring_lines[{year}] = {value} is outside 1,000–100,000 元")
    params: dict[str, float] = {}
    for name, value in (data.get("params") or {}).items():
        if not _IDENT.match(str(name)):
            raise PolicyError(f"params: {name!r} is not a valid name (lower_snake_case)")
        params[str(name)] = _num(value, f"params.{name}")
    if "line" in params:
        raise PolicyError("params: 'line' is reserved (the monitoring line of the screened year)")
    schema = portrait_columns(params)
    clash = sorted(set(params) & set(schema.names))
    if clash:
        raise PolicyError(f"params: {', '.join(clash)} clash with portrait column names")
    grades = data.get("grades") or {}
    score = data.get("score") or {}
    raw_rules = data["rules"]
    if not isinstance(raw_rules, list) or not raw_rules:
        raise PolicyError("rules must be a non-empty list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        if not isinstance(raw, dict):
            raise PolicyError(f"rules[{i}] must be a mapping")
        rid = str(raw.get("id") or f"rules[{i}]")
        if rid in seen:
            raise PolicyError(f"rule {rid}: duplicate id")
        seen.add(rid)
        risk = str(raw.get("risk_type", ""))
        if risk not in RISK_TYPES:
            raise PolicyError(f"rule {rid}: risk_type {risk!r} is not one of {', '.join(RISK_TYPES)}")
        kind = str(raw.get("kind", "shock"))
        if kind not in KINDS:
            raise PolicyError(f"rule {rid}: kind {kind!r} is not one of {', '.join(KINDS)}")
        when = raw.get("when")
        if not isinstance(when, str) or not when.strip():
            raise PolicyError(f"rule {rid}: 'when' must be a SQL boolean expression (text)")
        unless = raw.get("unless")
        if unless is not None and (not isinstance(unless, str) or not unless.strip()):
            raise PolicyError(f"rule {rid}: 'unless' must be a SQL boolean expression (text) or absent")
        reason = str(raw.get("reason_zh") or raw.get("name_zh") or rid)
        for ph in _PLACEHOLDER.findall(reason):
            if ph not in schema.names and ph not in params and ph != "line":
                raise PolicyError(f"rule {rid}: reason_zh uses unknown column {{{ph}}}")
        rules.append(
            Rule(
                id=rid,
                name_zh=str(raw.get("name_zh", rid)),
                risk_type=risk,
                kind=kind,
                when=when.strip(),
                unless=unless.strip() if unless else None,
                weight=_num(raw.get("weight", 1.0), f"rule {rid}: weight"),
                reason_zh=reason,
            )
        )
    policy = Policy(
        policy_id=str(data["policy_id"]),
        province=str(data["province"]),
        name_zh=str(data.get("name_zh", data["policy_id"])),
        monitoring_lines=lines,
        params=params,
        rules=tuple(rules),
        grade_high=_num(grades.get("high", 3.0), "grades.high"),
        grade_medium=_num(grades.get("medium", 1.5), "grades.medium"),
        capacity_per_village=int(_num(data.get("capacity_per_village", 3), "capacity_per_village")),
        shortfall_weight=_num(score.get("shortfall_weight", 2.0), "score.shortfall_weight"),
        income_band=_num(score.get("income_band", 1.5), "score.income_band"),
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=text,
    )
    if policy.capacity_per_village < 0:
        raise PolicyError("capacity_per_village must be ≥ 0")
    validate_expressions(policy, schema)
    return policy


def load_policy(path: Path | str | None = None) -> Policy:
    p = Path(path) if path is not None else DEFAULT_POLICY
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {p}: {exc}") from exc
    return parse_policy(text, source=str(p))


def _params_sql(params: Mapping[str, float]) -> str:
    cols = ", ".join(f"CAST({float(v)!r} AS DOUBLE) AS {k}" for k, v in sorted(params.items()))
    return f"SELECT {cols}"


def validate_expressions(policy: Policy, schema: pa.Schema) -> None:
    """Bind every expression with DuckDB against zero rows of the portrait schema (fail closed)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.register("__portrait", schema.empty_table())
        params = policy.param_values(max(policy.monitoring_lines))
        con.execute(f"CREATE TABLE __params AS {_params_sql(params)}")
        for rule in policy.rules:
            for label, expr in (("when", rule.when), ("unless", rule.unless)):
                if expr is None:
                    continue
                if ";" in expr or "--" in expr or "/*" in expr:
                    raise PolicyError(f"rule {rule.id}: {label}: ';' and SQL comments are not allowed")
                try:
                    described = con.execute(
                        f"DESCRIBE SELECT ({expr}) AS v FROM __portrait, __params"  # noqa: S608 - validated here
                    ).fetchall()
                except duckdb.Error as exc:
                    problem = str(exc).splitlines()[0]
                    raise PolicyError(f"rule {rule.id}: {label}: {problem}") from exc
                if len(described) != 1 or described[0][1] != "BOOLEAN":
                    found = described[0][1] if described else "nothing"
                    raise PolicyError(f"rule {rule.id}: {label}: must be a boolean expression, not {found}")
                try:  # constant: binds without a single portrait column
                    con.execute(f"DESCRIBE SELECT ({expr}) AS v FROM __params")  # noqa: S608
                except duckdb.Error:
                    pass
                else:
                    raise PolicyError(
                        f"rule {rule.id}: {label}: a constant expression (uses no portrait column) "
                        "would match every household or none"
                    )
    finally:
        con.close()


# --- versions stored as files: $FANGPIN_HOME/policies/<hash>.yaml + `active` -----------------------------


def store_policy(folder: Path, path: Path) -> Policy:
    """Validate and store a policy version (content-hash named) and make it active."""
    policy = load_policy(path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{policy.content_hash[:16]}.yaml"
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        tmp.write_text(policy.source, encoding="utf-8")
        tmp.replace(target)
    active = folder / "active"
    tmp_active = folder / "active.tmp"
    tmp_active.write_text(target.name + "\n", encoding="utf-8")
    tmp_active.replace(active)
    return policy


def active_policy(folder: Path) -> Policy:
    """The active stored policy, or the shipped default when none was loaded."""
    active = folder / "active"
    if not active.exists():
        return load_policy(DEFAULT_POLICY)
    return load_policy(folder / active.read_text(encoding="utf-8").strip())


def policy_versions(folder: Path) -> list[tuple[str, float, bool]]:
    """(file name, modified time, is active) of every stored version, oldest first."""
    if not folder.exists():
        return []
    active = (folder / "active").read_text(encoding="utf-8").strip() if (folder / "active").exists() else ""
    files = sorted(folder.glob("*.yaml"), key=lambda f: f.stat().st_mtime)
    return [(f.name, f.stat().st_mtime, f.name == active) for f in files]
