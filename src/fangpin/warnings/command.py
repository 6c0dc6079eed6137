"""`fangpin warnings import --as-of P`: the department screening stored as leads (Django set up lazily)."""

from __future__ import annotations

import argparse
from typing import Any


def _import(args: argparse.Namespace) -> int:
    from fangpin.cli import _call

    return _call("warnings_import", as_of=args.as_of, lake=args.lake, policy=args.policy)


def register(sub: Any) -> None:
    leads = sub.add_parser("warnings", help="预警线索 / leads from screening, declarations and field reports")
    leads_sub = leads.add_subparsers(dest="warnings_command", metavar="ACTION", required=True)
    imp = leads_sub.add_parser(
        "import",
        help="部门筛查并存为预警线索 / screen as of a period and store the pushed warnings as leads",
    )
    imp.add_argument("--as-of", required=True, help="筛查期 YYYY-MM / period")
    imp.add_argument("--lake", default="", help="数据湖路径 / lake root (default $FANGPIN_LAKE)")
    imp.add_argument("--policy", default="", help="规则文件 / policy YAML (default: the one in force)")
    imp.set_defaults(func=_import)
