# ruff: noqa: T201 - a command line prints its results
"""Django-free CLI: `fangpin model train` and `fangpin model show`.

Models are stored under $FANGPIN_HOME/models/<version>/ (model.txt + meta.json) with `active` naming the
active one; without any, the shipped default (src/fangpin/pipeline/models/) is used. Every error prints
one clear line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fangpin.lib.periods import check_period, period_range
from fangpin.pipeline.evaluate import examples_from_simulation
from fangpin.pipeline.history import HORIZON
from fangpin.pipeline.lake import Lake, LakeError
from fangpin.pipeline.model import (
    SHIPPED_MODELS,
    ModelError,
    RiskModel,
    TrainOptions,
    active_model,
    load_model,
    model_versions,
    simulation_lake,
    store_model,
    train,
)
from fangpin.pipeline.policy import PolicyError


def models_dir() -> Path:
    """$FANGPIN_HOME/models (FANGPIN_HOME defaults to ./var)."""
    return Path(os.environ.get("FANGPIN_HOME") or "var") / "models"


def default_model() -> RiskModel:
    """The active stored model, else the shipped default."""
    return active_model(models_dir())


def model_from(path: str | None) -> RiskModel:
    return load_model(Path(path)) if path else default_model()


def _fail(message: str) -> int:
    print(f"错误 / error: {message}", file=sys.stderr)
    return 2


def parse_periods(text: str) -> list[str]:
    """`2025-07..2026-10` (inclusive) or a comma list `2026-01,2026-02`."""
    if ".." in text:
        start, end = (p.strip() for p in text.split("..", 1))
        return period_range(start, end)
    return [check_period(p.strip()) for p in text.split(",") if p.strip()]


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    started = time.monotonic()

    def say(message: str) -> None:
        if not args.quiet:
            print(f"  [{time.monotonic() - started:5.0f}s] {message}", file=sys.stderr)

    return say


def _train(args: argparse.Namespace) -> int:
    if args.from_history:
        return _train_history(args)
    if not args.synth:
        return _fail("give --synth DIR (a simulated county) or --from-history (the county's own history)")
    say = _progress(args)
    try:
        periods = parse_periods(args.periods)
        if len(periods) < 3:
            raise ValueError("train on at least 3 periods (the latest ~30 % calibrate the model)")
        lakes = list(args.lake or [])
        if lakes and len(lakes) != len(args.synth):
            raise ValueError("give one --lake per --synth (or none: DIR/lake, built when absent)")
        parts = []
        for i, name in enumerate(args.synth):
            synth = Path(name)
            if not (synth / "deliveries").is_dir():
                raise FileNotFoundError(
                    f"no simulator output at {synth} (--synth is the directory `fangpin synth --out` wrote)"
                )
            lake_root = Path(lakes[i]) if lakes else synth / "lake"
            if (lake_root / "_deliveries").is_dir():
                lake = Lake(lake_root)
            else:
                say(f"importing {synth / 'deliveries'} into {lake_root} (exact-ID linking)")
                lake = simulation_lake(synth / "deliveries", lake_root, progress=say)
            part = examples_from_simulation(lake, synth, periods, progress=say)
            # households of different simulated counties share numbers: keep them apart
            parts.append(part.append_column("source", pa.array([i] * part.num_rows, pa.int64())))
        examples = pa.concat_tables(parts, promote_options="permissive")
        say(f"training on {examples.num_rows} examples")
        county = str(examples.column("county_code")[0]) if examples.num_rows else ""
        model = train(
            examples,
            TrainOptions(
                seed=args.seed,
                split=args.split,
                name=args.name,
                county=county,
                notes={"label_source": "simulation", "synth": [str(Path(x).resolve()) for x in args.synth]},
            ),
        )
        folder = Path(args.out) if args.out else models_dir()
        path = store_model(folder, model, activate=not args.no_activate)
    except (ValueError, FileNotFoundError, LakeError) as exc:
        return _fail(str(exc))
    m = model.meta
    print(
        f"已训练模型 model trained: {model.version} → {path}{'' if args.no_activate else ' (active)'}\n"
        f"  {m['rows']} examples, {m['positives']} at risk; held-out {_held_out(m)}: "
        f"AUC {m['auc']:.3f}, calibration error {m['calibration_error']:.4f}; "
        f"grades 高 ≥ {m['grades']['high']:.2f}, 中 ≥ {m['grades']['medium']:.3f}"
    )
    return 0


def _decisions(args: argparse.Namespace) -> pa.Table | None:
    """fangpin's decisions as labels: --decisions FILE.parquet, else what `fangpin.cli` read from the
    database (`decision_table`), else none."""
    if args.decisions:
        path = Path(args.decisions)
        if not path.is_file():
            raise FileNotFoundError(
                f"no decision labels at {path} (a Parquet file: household_key, period, label)"
            )
        return pq.read_table(path)
    table: pa.Table | None = getattr(args, "decision_table", None)
    return table


def _train_history(args: argparse.Namespace) -> int:
    from fangpin.pipeline.history import train_from_history
    from fangpin.pipeline.screen_cli import _lake, _policy

    if args.synth:
        return _fail("--from-history trains on the county's own lake: leave out --synth")
    try:
        periods = parse_periods(args.periods)
        lake = _lake(args.lake[0] if args.lake else None)
        run = train_from_history(
            lake,
            periods,
            _policy(args.policy or None),
            Path(args.out) if args.out else models_dir(),
            decisions=_decisions(args),
            horizon=args.horizon,
            warm=not args.from_scratch,
            seed=args.seed,
            name=args.name if args.name != "jx-default" else "county",
            progress=_progress(args),
        )
    except (ValueError, FileNotFoundError, LakeError, PolicyError) as exc:
        return _fail(str(exc))
    m = run.model.meta
    print(
        f"已训练模型 model trained from history: {run.model.version} "
        f"({'已启用 active' if run.activated else '已保存，未启用 stored, not active'})\n"
        f"  训练期 trained on {_span(m['train_periods'] + m['calibration_periods'])}, "
        f"验证期 validated on {_span(run.validation_periods)} ({run.challenger.positives} 户后续纳入监测)\n"
        f"  新模型 challenger: {run.challenger.line()}\n"
        f"  现用 champion {run.champion_version}: {run.champion.line()}\n"
        f"  仅用规则 rules only: {run.rules.line()}\n"
        f"  {'启用' if run.activated else '未启用'}原因 why: {run.why}"
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    folder = Path(args.folder) if args.folder else models_dir()
    try:
        model = load_model(Path(args.model)) if args.model else active_model(folder)
    except ModelError as exc:
        return _fail(str(exc))
    m = model.meta
    shipped = model.path is not None and model.path.parent == SHIPPED_MODELS
    print(f"当前模型 active model: {model.version}" + (" (shipped default)" if shipped else ""))
    print(f"  路径 path: {model.path}")
    print(
        f"  创建 created: {m.get('created_at', '')}  LightGBM {m.get('lightgbm', '')}  seed {m.get('seed', '')}"
    )
    print(f"  县 county: {m.get('county') or '—'}  标签来源 labels: {m.get('label_source') or '—'}")
    print(
        f"  训练期 train periods: {_span(m.get('train_periods', []))}; "
        f"校准 held out: {_held_out(m)} (split {m.get('split', 'period')})"
    )
    print(
        f"  样本 examples: {m.get('rows')} ({m.get('positives')} at risk); "
        f"held-out AUC {m.get('auc')}, 校准误差 calibration error {m.get('calibration_error')}, "
        f"Brier {m.get('brier')}; trees {m.get('rounds')}"
    )
    if _warm_text(m):
        print(f"  {_warm_text(m)}")
    grades = m["grades"]
    print(f"  分级 grades: 高 ≥ {grades['high']}, 中 ≥ {grades['medium']} (calibrated probability)")
    print("  主要特征 top features by gain:")
    for name, label, share in model.feature_importance()[: args.top]:
        print(f"    {share * 100:5.1f}%  {label} ({name})")
    versions = model_versions(folder)
    if versions:
        print("  版本 versions:")
        for name, created, active in versions:
            print(f"    {'*' if active else ' '} {name}  {created}")
            for line in _version_figures(folder / name):
                print(f"        {line}")
    return 0


def _version_figures(path: Path) -> list[str]:
    """A stored version's training months, validation figures and why it is (not) active."""
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["元数据无法读取 unreadable meta.json"]
    trained = [str(p) for p in meta.get("train_periods", []) + meta.get("calibration_periods", [])]
    out = [f"标签 labels: {meta.get('label_source') or '—'}; 训练期 trained on {_span(sorted(trained))}"]
    if _warm_text(meta):
        out.append(_warm_text(meta))
    validation = meta.get("validation")
    if isinstance(validation, dict):
        out.append(f"验证期 validated on {_span([str(p) for p in validation.get('periods', [])])}")
        for key, title in (("challenger", "本版本"), ("champion", "当时现用"), ("rules", "仅用规则")):
            fig = validation.get(key) or {}
            out.append(f"  {title} {key}: {_figure_text(fig)}")
    activation = meta.get("activation")
    if isinstance(activation, dict):
        verdict = "启用 activated" if activation.get("active") else "未启用 not activated"
        out.append(f"{verdict}: {activation.get('why', '')}")
    return out


def _warm_text(meta: dict[str, object]) -> str:
    """'' unless the version corrects a prior model (history.warm_prior)."""
    warm = meta.get("warm_start")
    if not isinstance(warm, dict):
        return ""
    return (
        f"以 {warm.get('prior')} 为起点修正 warm start: {warm.get('prior_trees')} 棵原模型树 prior trees "
        f"+ {warm.get('correction_trees')} 棵修正树 correction trees"
    )


def _figure_text(fig: dict[str, object]) -> str:
    def num(key: str, scale: float = 1.0, digits: int = 2) -> str:
        v = fig.get(key)
        unit = "%" if scale == 100 else ""
        return f"{float(v) * scale:.{digits}f}{unit}" if isinstance(v, int | float) else "—"

    version = f"{fig['version']} " if fig.get("version") else ""
    return (
        f"{version}80%召回每户预警 {num('per_found_80')}, 90% {num('per_found_90')}, "
        f"村内前K召回 {num('recall_top_k', 100, 1)}, 预测 {num('mean_predicted', 100)} / "
        f"实际 {num('observed_rate', 100)}"
    )


def _held_out(meta: dict[str, object]) -> str:
    periods = meta.get("calibration_periods") or []
    if isinstance(periods, list) and periods:
        return _span([str(p) for p in periods])
    return f"{meta.get('calibration_rows')} rows of 30 % of the households"


def _span(periods: list[str]) -> str:
    if not periods:
        return "—"
    return periods[0] if len(periods) == 1 else f"{periods[0]}..{periods[-1]} ({len(periods)})"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("model", help="风险排序模型 / learned risk ranking (train, show)")
    sub = p.add_subparsers(dest="model_command", required=True)
    t = sub.add_parser(
        "train", help="训练模型（模拟县或本县历史）/ train on a simulated county or the county's own history"
    )
    t.add_argument(
        "--synth", action="append", default=[], help="模拟器输出目录 DIR (fangpin synth --out); repeatable"
    )
    t.add_argument(
        "--from-history",
        action="store_true",
        help="用本县历史训练（名册转入监测 + 核实决定）/ train on the county's own roster and decisions",
    )
    t.add_argument(
        "--horizon",
        type=int,
        default=HORIZON,
        help=f"名册标签期 / a household monitored within N months after P is a positive at P (1–3, default {HORIZON})",
    )
    t.add_argument(
        "--from-scratch",
        action="store_true",
        help="不以现用模型为起点 / learn from nothing instead of correcting the champion (--from-history)",
    )
    t.add_argument("--decisions", default="", help="核实决定标签 Parquet / decision labels (--from-history)")
    t.add_argument(
        "--no-decisions", action="store_true", help="不读取数据库中的核实决定 / roster labels only"
    )
    t.add_argument("--policy", default="", help="规则文件 / policy YAML (--from-history; default: active)")
    t.add_argument(
        "--lake",
        action="append",
        help="数据湖 / lake of those deliveries (default DIR/lake, built if absent)",
    )
    t.add_argument("--periods", required=True, help="训练期次 e.g. 2025-04..2026-10")
    t.add_argument("--out", default="", help="模型目录 / models folder (default $FANGPIN_HOME/models)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--split",
        choices=["household", "period"],
        default="household",
        help="留出校准集 / hold out 30 %% of the households (default) or the latest 30 %% of the periods",
    )
    t.add_argument("--name", default="jx-default", help="版本名前缀 / version name prefix")
    t.add_argument("--no-activate", action="store_true", help="只保存不启用 / store without activating")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train)
    s = sub.add_parser("show", help="查看当前模型 / the active model, its metadata and top features")
    s.add_argument("--model", default="", help="模型版本目录 / a model version directory")
    s.add_argument("--folder", default="", help="模型目录 / models folder (default $FANGPIN_HOME/models)")
    s.add_argument("--top", type=int, default=15)
    s.set_defaults(func=_show)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fangpin")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
