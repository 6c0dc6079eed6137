from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fangpin.privacy.retention import CATEGORY_NAMES, purge


class Command(BaseCommand):
    help = (
        "按保存期限清除或匿名化个人信息 / purge or anonymise personal information past its retention "
        "(--dry-run counts, --execute purges and audits)"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--dry-run", action="store_true", help="只统计，不删除 / count only")
        mode.add_argument("--execute", action="store_true", help="执行清除并记入审计 / purge and audit")

    def handle(self, *args: Any, **options: Any) -> None:
        execute = bool(options["execute"])
        for item in purge(execute=execute):
            verb = "已清除" if execute else "将清除"
            self.stdout.write(
                f"{CATEGORY_NAMES[item.category]}：{verb} {item.count} 项"
                f"（保存 {item.retention_days} 天，早于 {item.cutoff:%Y-%m-%d}） / {item.category}: {item.count}"
            )
        if not execute:
            self.stdout.write("（演练：未删除任何数据；加 --execute 执行） / dry run: nothing deleted")
