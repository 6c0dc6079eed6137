"""`fangpin cases onboard FILE.xlsx --county C` / `fangpin cases reconcile --county C`, and
`fangpin calendar load FILE.yaml [--recompute]` and `fangpin calendar show [--year Y]` (Django set up
lazily; the work is the `cases_calendar` management command)."""

from __future__ import annotations

import argparse
from typing import Any


def _calendar(args: argparse.Namespace) -> int:
    from fangpin.cli import _call

    if args.action == "load":
        return _call("cases_calendar", "load", args.file, recompute=args.recompute)
    return _call("cases_calendar", "show", year=args.year)


def _cases(args: argparse.Namespace) -> int:
    from fangpin.cli import _call

    return _call("cases_onboard", args.action, args.file, county=args.county, period=args.period)


def register(sub: Any) -> None:
    cases = sub.add_parser(
        "cases", help="导入已有监测对象台账 / 名册核对 · onboard a county's roster, reconcile with ag_roster"
    )
    cases.add_argument(
        "action", choices=["onboard", "reconcile"], help="onboard FILE.xlsx：导入台账 / reconcile：名册核对"
    )
    cases.add_argument("file", nargs="?", default="", help="全国防返贫监测信息系统导出的台账 (.xlsx)")
    cases.add_argument("--county", required=True, help="县级区划代码 / county code, e.g. 360722")
    cases.add_argument("--period", default="", help="核对的期次 YYYY-MM（默认本月）/ reconcile as of")
    cases.set_defaults(func=_cases)

    p = sub.add_parser(
        "calendar", help="法定节假日安排（工作日时限）/ official holidays for working-day deadlines"
    )
    p.add_argument("action", choices=["load", "show"], help="load FILE.yaml：校验并录入一个年度 / show：查看")
    p.add_argument("file", nargs="?", default="", help="节假日安排文件 / the year's schedule (YAML)")
    p.add_argument("--year", type=int, default=None, help="只看这一年 / show one year day by day")
    p.add_argument(
        "--recompute",
        action="store_true",
        help="重算时限涉及该年度的办理中案件 / recompute running cases' deadlines that reach into the year",
    )
    p.set_defaults(func=_calendar)
