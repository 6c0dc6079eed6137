"""`fangpin analytics refresh|scan` (wired into fangpin.cli by register())."""
# ruff: noqa: T201 - a command line prints

from __future__ import annotations

import argparse
import datetime as dt
import sys

from fangpin.lib.periods import is_period


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("analytics", help="监测分析 / indicators and regional-scale risk")
    sub = p.add_subparsers(dest="analytics_command", metavar="ACTION")
    r = sub.add_parser("refresh", help="重算监测指标 / refresh the indicator table (resumes after a crash)")
    r.add_argument(
        "--month", action="append", help="月份 YYYY-MM（可重复；默认本月和上月）/ month, repeatable"
    )
    r.add_argument("--scope", default="", help="区划代码前缀（默认全部）/ region prefix")
    r.add_argument("--changed", action="store_true", help="只重算数据有变化的月份 / only changed months")
    r.set_defaults(func=_refresh)
    s = sub.add_parser("scan", help="区域规模性风险扫描 / space-time scan of a county's shocks")
    s.add_argument("--as-of", required=True, help="监测期 YYYY-MM")
    s.add_argument("--county", required=True, help="县级代码 / 6-digit county code")
    s.add_argument("--replications", type=int, default=999)
    s.set_defaults(func=_scan)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _refresh(args: argparse.Namespace) -> int:
    from fangpin.cli import _django

    _django()
    months = args.month
    if not months:
        from django.utils import timezone

        today = timezone.localdate()
        last = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        months = [last, today.strftime("%Y-%m")]
    bad = [m for m in months if not is_period(m)]
    if bad:
        print(f"错误 / error: 月份格式应为 YYYY-MM：{', '.join(bad)}", file=sys.stderr)
        return 2
    from fangpin.analytics.actions import refresh

    def progress(i: int, n: int, county: str) -> None:
        print(f"\r{i}/{n} 县 {county}", end="", file=sys.stderr, flush=True)

    done = refresh(months, scope=args.scope, changed_only=args.changed, progress=progress)
    print(file=sys.stderr)
    print(f"已重算 / refreshed: {', '.join(done) or '无变化 / nothing changed'}")
    return 0


def _scan(args: argparse.Namespace) -> int:
    from fangpin.cli import _django

    if not is_period(args.as_of) or len(args.county) != 6 or not args.county.isdigit():
        print("错误 / error: --as-of YYYY-MM 与 6 位县级代码", file=sys.stderr)
        return 2
    _django()
    from fangpin.analytics.actions import run_scan
    from fangpin.pipeline.scan import ScanConfig

    alerts = run_scan(args.as_of, county=args.county, config=ScanConfig(replications=args.replications))
    for a in alerts:
        print(
            f"{a.start}–{a.end} {a.centre} 等 {len(a.villages)} 村：{a.observed} 户（期望 {a.expected:.1f}，"
            f"RR {a.relative_risk:.1f}，p={a.p_value:.3f}）{a.cause}"
        )
    print(f"区域规模性风险预警 / regional alerts: {len(alerts)}")
    return 0
