from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fangpin.exchange import actions


class Command(BaseCommand):
    help = "数据共享目录：载入新版本或查看 / load a catalog version or show the one in force"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["load", "show"])
        parser.add_argument("file", nargs="?", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "load":
            if not options["file"]:
                raise CommandError("请给出目录文件 / give the catalog YAML file")
            try:
                version = actions.load_catalog_version(
                    Path(options["file"]).read_text(encoding="utf-8"), username="cli"
                )
            except (OSError, actions.ExchangeError) as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"已启用目录版本 {version.version}")
            return
        catalog = actions.active_catalog()
        self.stdout.write(f"目录版本 {catalog.version}: {len(catalog.datasets)} 个数据集")
        for name, spec in catalog.datasets.items():
            zh = catalog.departments[spec.department].zh
            self.stdout.write(f"  {name:<24} {spec.zh:<14} {zh:<6} {spec.cadence:<8} {len(spec.fields)} 字段")
