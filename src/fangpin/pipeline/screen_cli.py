# ruff: noqa: T201 - a command line prints its results
"""Django-free CLI: `fangpin screen`, `fangpin evaluate`, `fangpin policy load|show`.

`register(subparsers)` adds the three subcommands; every error prints one clear line and exits 2.
The lake defaults to $FANGPIN_LAKE, else $FANGPIN_HOME/lake (FANGPIN_HOME defaults to ./var); policy
versions are files under $FANGPIN_HOME/policies/ (content-hash named, `active` names the active one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fangpin.lib.periods import check_period
from fangpin.lib.spreadsheet import dict_writer
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.policy import (
    DEFAULT_POLICY,
    Policy,
    PolicyError,
    active_policy,
    load_policy,
    policy_versions,
    store_policy,
)

if TYPE_CHECKING:
    from fangpin.pipeline.model import RiskModel

CSV_COLUMNS = (
    "household_no",
    "score",
    "grade",
    "risk_types",
    "category",
    "reasons",
    "prompt",
    "explanation",
)


def _home() -> Path:
    return Path(os.environ.get("FANGPIN_HOME") or "var")


def _default_lake() -> Path:
    return Path(os.environ.get("FANGPIN_LAKE") or _home() / "lake")


def _policies_dir() -> Path:
    return _home() / "policies"


def _fail(message: str) -> int:
    print(f"错误 / error: {message}", file=sys.stderr)
    return 2


def _lake(path: str | None) -> Lake:
    root = Path(path) if path else _default_lake()
    if not (root / "_deliveries").is_dir():
        raise FileNotFoundError(f"no lake at {root} (import deliveries first, or pass --lake PATH)")
    return Lake(root)


def _policy(path: str | None) -> Policy:
    return load_policy(path) if path else active_policy(_policies_dir())


ENGINES = ("duckdb", "spark")


def _ranker(args: argparse.Namespace) -> RiskModel | None:
    """The learned ranking: --model PATH, else the active stored model, else the shipped one;
    --rules-only ranks by the policy's rule score (the baseline)."""
    if args.rules_only:
        return None
    from fangpin.pipeline.model_cli import model_from

    return model_from(args.model or None)


def _screen(args: argparse.Namespace) -> int:
    from fangpin.pipeline.engine import engine_named, stop_spark
    from fangpin.pipeline.screen import screen

    try:
        check_period(args.as_of)
        lake = _lake(args.lake)
        policy = _policy(args.policy)
        engine = engine_named(args.engine)
        try:
            result = screen(
                lake, args.as_of, policy, engine=engine, include_all=args.all, ranker=_ranker(args)
            )
        finally:
            engine.close()
            if args.engine == "spark":
                stop_spark()
    except (ValueError, FileNotFoundError, NotImplementedError, PolicyError) as exc:
        return _fail(str(exc))
    table = result.all_scored if args.all else result.warnings
    rows = table.select(list(CSV_COLUMNS)).to_pylist()
    out = open(args.out, "w", encoding="utf-8-sig", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        writer = dict_writer(out, list(CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    finally:
        if args.out:
            out.close()
    pushed = result.warnings
    verify = sum(1 for p in pushed.column("prompt").to_pylist() if p == "verify")
    print(
        f"筛查 screened {result.all_scored.num_rows} 户 households as of {args.as_of} "
        f"(policy {policy.policy_id} {policy.content_hash[:12]}, line {result.line:,.0f} 元, "
        f"ranking {result.model_version or 'rules only'}): "
        f"{verify} 条核实预警 verification warnings pushed, {pushed.num_rows - verify} prompts"
        + (f" → {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
    print(f"  用时 time: {sum(result.timings.values()):.1f} s ({stages})", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from fangpin.pipeline.engine import engine_named, stop_spark
    from fangpin.pipeline.evaluate import evaluate, side_by_side
    from fangpin.pipeline.screen import screen

    if args.compare:
        return _compare(args)
    try:
        check_period(args.as_of)
        lake = _lake(args.lake)
        policy = _policy(args.policy)
        engine = engine_named(args.engine)
        try:
            model = _ranker(args)
            result = screen(lake, args.as_of, policy, engine=engine, ranker=model)
            # the baseline the model must never fall below: the same month ranked by the rule score
            rules = screen(lake, args.as_of, policy, engine=engine) if model is not None else None
        finally:
            engine.close()
            if args.engine == "spark":
                stop_spark()
        capacity = policy.capacity_per_village
        report = evaluate(result, Path(args.truth), args.as_of, model=model, capacity=capacity)
        baseline = evaluate(rules, Path(args.truth), args.as_of) if rules is not None else None
    except (ValueError, FileNotFoundError, NotImplementedError, PolicyError) as exc:
        return _fail(str(exc))
    print(report.to_text())
    if model is not None and baseline is not None:
        print(side_by_side([(f"模型 model {model.version}", report), ("仅规则 --rules-only", baseline)]))
    return 0


def _compare(args: argparse.Namespace) -> int:
    """The active model, the shipped default and the rule score on the same households, side by side."""
    from fangpin.pipeline.engine import engine_named
    from fangpin.pipeline.evaluate import compare_rankings
    from fangpin.pipeline.model import shipped_model
    from fangpin.pipeline.model_cli import model_from
    from fangpin.pipeline.screen import screen

    try:
        check_period(args.as_of)
        lake = _lake(args.lake)
        policy = _policy(args.policy)
        engine = engine_named(args.engine)
        try:
            result = screen(lake, args.as_of, policy, engine=engine)
        finally:
            engine.close()
        active = model_from(args.model or None)
        shipped = shipped_model()
        first = (
            "model" if args.model else ("active = shipped" if shipped.version == active.version else "active")
        )
        rankers = [(first, active)] + ([("shipped", shipped)] if shipped.version != active.version else [])
        text = compare_rankings(result, Path(args.truth), rankers, capacity=policy.capacity_per_village)
    except (ValueError, FileNotFoundError, NotImplementedError, PolicyError) as exc:
        return _fail(str(exc))
    print(text)
    return 0


def _policy_cmd(args: argparse.Namespace) -> int:
    folder = _policies_dir()
    try:
        if args.action == "load":
            if not args.file:
                return _fail("policy load needs a FILE.yaml")
            policy = store_policy(folder, Path(args.file))
            print(
                f"已启用监测规则 policy active: {policy.policy_id} ({policy.content_hash[:16]}), "
                f"{len(policy.rules)} rules, lines {policy.monitoring_lines}"
            )
            return 0
        policy = active_policy(folder)
    except PolicyError as exc:
        return _fail(str(exc))
    versions = policy_versions(folder)
    print(f"当前规则 active policy: {policy.policy_id} — {policy.name_zh} (province {policy.province})")
    print(
        f"  hash {policy.content_hash[:16]}"
        + ("" if versions else f" (shipped default {DEFAULT_POLICY.name})")
    )
    print(
        "  监测线 monitoring lines: "
        + ", ".join(f"{y}: {v:,.0f} 元" for y, v in sorted(policy.monitoring_lines.items()))
    )
    print(f"  容量 capacity per village per month: {policy.capacity_per_village}")
    print(f"  分级 grades: 高 ≥ {policy.grade_high}, 中 ≥ {policy.grade_medium}")
    for r in policy.rules:
        unless = f"  unless {r.unless}" if r.unless else ""
        print(f"  [{r.risk_type}] {r.id} {r.name_zh} (w {r.weight}): {r.when}{unless}")
    if versions:
        print("  版本 versions:")
        for name, mtime, active in versions:
            stamp = dt.datetime.fromtimestamp(mtime, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            print(f"    {'*' if active else ' '} {name}  {stamp}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = subparsers.add_parser("screen", help="部门数据筛查预警 / screen households and grade warnings")
    s.add_argument("--as-of", required=True, help="筛查期次 YYYY-MM / screen as of this period")
    s.add_argument("--engine", default="duckdb", choices=ENGINES, help="计算引擎 / duckdb (default) or spark")
    s.add_argument("--out", default="", help="输出CSV / write warnings to this CSV (default stdout)")
    s.add_argument("--all", action="store_true", help="列出全部评分户 / every scored household, ranked")
    s.add_argument("--lake", default="", help="数据湖路径 / lake root (default $FANGPIN_HOME/lake)")
    s.add_argument("--policy", default="", help="规则文件 / policy YAML (default: the active policy)")
    s.add_argument("--model", default="", help="排序模型目录 / model folder (default: the active model)")
    s.add_argument("--rules-only", action="store_true", help="仅按规则评分 / rank by the rule score only")
    s.set_defaults(func=_screen)

    e = subparsers.add_parser(
        "evaluate", help="用模拟真值评估筛查 / evaluate screening against simulator truth"
    )
    e.add_argument("--truth", required=True, help="模拟器真值目录 DIR/truth")
    e.add_argument("--as-of", required=True, help="期次 YYYY-MM")
    e.add_argument("--engine", default="duckdb", choices=ENGINES, help="计算引擎 / duckdb (default) or spark")
    e.add_argument("--lake", default="", help="数据湖路径 / lake root (default $FANGPIN_HOME/lake)")
    e.add_argument("--policy", default="", help="规则文件 / policy YAML (default: the active policy)")
    e.add_argument("--model", default="", help="排序模型目录 / model folder (default: the active model)")
    e.add_argument("--rules-only", action="store_true", help="仅按规则评分 / rank by the rule score only")
    e.add_argument(
        "--compare",
        action="store_true",
        help="并列比较当前模型、出厂模型与仅用规则 / the active model, the shipped default and the rules side by side",
    )
    e.set_defaults(func=_evaluate)

    p = subparsers.add_parser(
        "policy", help="监测规则配置 / screening policy (load a version, show the active one)"
    )
    p.add_argument("action", choices=["load", "show"], help="load FILE.yaml：校验并启用 / show：查看当前规则")
    p.add_argument("file", nargs="?", default="")
    p.set_defaults(func=_policy_cmd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fangpin")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
