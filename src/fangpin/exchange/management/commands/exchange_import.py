from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from fangpin.exchange import actions
from fangpin.exchange.models import Source, Status

logger = logging.getLogger(__name__)
MARKS: dict[str, str] = {
    Status.ACCEPTED: "✓",
    Status.DUPLICATE: "=",
    Status.REJECTED_WHOLE: "✗",
    Status.FAILED: "✗",
}


class Command(BaseCommand):
    help = "导入一期部门交付 / import a delivery folder (one file per dataset) or a single file"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="交付目录或单个文件 / delivery folder or one file")
        parser.add_argument("--period", required=True, help="期次 YYYY-MM")
        parser.add_argument("--dataset", default="", help="只导入这个数据集 / only this dataset")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        catalog = actions.active_catalog()
        try:
            actions.check_period(options["period"])
            plan = actions.plan_folder(path, options["dataset"], catalog)
        except actions.ExchangeError as exc:
            raise CommandError(str(exc)) from exc
        if plan.unknown:
            self.stderr.write(f"不认识的文件（未导入）：{', '.join(plan.unknown)}")
        files = plan.files
        failures = 0
        with (
            actions.registry_snapshot(),
            tqdm(
                files, desc=f"导入 {options['period']}", unit="文件", disable=options["verbosity"] == 0
            ) as bar,
        ):
            for dataset, file in bar:
                bar.set_postfix_str(dataset)
                try:
                    d = actions.import_file(
                        file, dataset, options["period"], source=Source.CLI, username="cli"
                    )
                except actions.ExchangeError as exc:  # a bad request: its message is for the user
                    failures += 1
                    tqdm.write(f"✗ {dataset}: {exc}")
                    continue
                except Exception:  # reported per file (traceback to the log); the others still import
                    logger.exception("import of %s failed", file)
                    failures += 1
                    tqdm.write(f"✗ {dataset}: 处理失败：系统内部错误（详情已记入系统日志），本文件未入库")
                    continue
                mark = MARKS.get(d.status, "?")
                tqdm.write(
                    f"{mark} {dataset:<24} 读取 {d.read:>8}  入库 {d.accepted:>8}  拒收 {d.rejected:>6}  重复 {d.duplicates:>6}"
                    f"  {d.outcome_label}{'：' + d.message if d.message and d.status != Status.ACCEPTED else ''}"
                )
                failures += d.status in (Status.REJECTED_WHOLE, Status.FAILED)
        if failures:
            raise CommandError(f"{failures} 个文件未能导入（见上）")
