"""`fangpin calendar load FILE.yaml [--recompute]` and `fangpin calendar show [--year Y]` (Django set up
lazily; the work is the `cases_calendar` management command)."""

from __future__ import annotations

import argparse
from typing import Any


def _calendar(args: argparse.Namespace) -> int:
    from fangpin.cli import _call

    if args.action == "load":
        return _call("cases_calendar", "load", args.file, recompute=args.recompute)
    return _call("cases_calendar", "show", year=args.year)


def register(sub: Any) -> None:
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
