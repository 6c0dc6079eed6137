"""`fangpin synth`: the command-line entry (wired into fangpin.cli by register())."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fangpin.synth.config import KNOBS, WORLDS, DefectRates, SynthConfig


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "synth",
        help="生成模拟县/省数据 / generate a synthetic county or province",
        description="生成模拟县/省的部门数据与隐藏真值 / generate department deliveries and hidden truth for a synthetic county or province",
    )
    p.add_argument("--province", default="36", help="省级代码 / 2-digit province code (default 36)")
    p.add_argument("--county", default=None, help="县级代码 / 6-digit county code; omit for a whole province")
    p.add_argument("--households", type=int, default=None, help="户数 / number of households")
    p.add_argument("--persons", type=int, default=None, help="人数 / number of persons (whole households)")
    p.add_argument("--months", type=int, default=12, help="月数 / months to deliver (default 12)")
    p.add_argument("--start", default="2025-01", help="起始月 / first delivery month YYYY-MM")
    p.add_argument("--seed", type=int, default=1, help="随机种子 / seed (same seed, same bytes)")
    p.add_argument("--out", type=Path, required=True, help="输出目录 / output folder")
    p.add_argument(
        "--defects",
        choices=["default", "none"],
        default="default",
        help="数据缺陷 / inject realistic defects or none",
    )
    p.add_argument(
        "--defect-rate",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help="单项缺陷率 / override one defect rate, repeatable: id_check_char, id_excel_mangled, id_missing,"
        " name_typo, duplicate_event (share of rows, 0..1 or 0.5%%); gbk_files, zh_header_files, late_datasets"
        " (files per run)",
    )
    p.add_argument(
        "--world",
        default="default",
        choices=sorted(WORLDS),
        help="模拟县情 / a named world: department coverage, shocks, income level, monitoring practice"
        " (docs/synth.md)",
    )
    p.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="单项县情参数 / override one knob of the world, repeatable: " + ", ".join(KNOBS),
    )
    p.add_argument("--quiet", action="store_true", help="不显示进度 / no progress bar or summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fangpin.synth.run import format_summary, generate

    if not args.households and not args.persons:
        args.households = 50_000 if args.county else None
    if not args.households and not args.persons:
        print("请给出 --households 或 --persons / give --households or --persons", file=sys.stderr)  # noqa: T201
        return 2
    try:
        rates = DefectRates.none() if args.defects == "none" else DefectRates()
        rates = rates.with_overrides(args.defect_rate)
        config = SynthConfig(
            province=args.province,
            county=args.county,
            households=args.households,
            persons=args.persons,
            months=args.months,
            start=args.start,
            seed=args.seed,
            defects=rates,
        ).with_world(args.world, args.knob)
        config.validate()
    except ValueError as exc:
        print(f"fangpin synth: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    summary = generate(config, args.out, progress=not args.quiet)
    if not args.quiet:
        print(format_summary(summary, args.out))  # noqa: T201
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fangpin")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
