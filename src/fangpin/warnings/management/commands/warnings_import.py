from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fangpin.lib.periods import check_period
from fangpin.pipeline.policy import PolicyError, load_policy
from fangpin.warnings import screening


class Command(BaseCommand):
    help = "部门筛查并存为预警线索 / screen the lake as of a period and store the warnings as leads"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", required=True, help="筛查期 YYYY-MM / period")
        parser.add_argument("--lake", default="", help="数据湖路径 / lake root (default $FANGPIN_LAKE)")
        parser.add_argument("--policy", default="", help="规则文件 / policy YAML (default: the one in force)")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = options["as_of"]
        try:
            check_period(as_of)
            policy = load_policy(options["policy"]) if options["policy"] else None
        except (ValueError, PolicyError) as exc:
            raise CommandError(str(exc)) from exc
        lake = Path(options["lake"]) if options["lake"] else None
        if lake is not None and not lake.exists():
            raise CommandError(f"数据湖不存在 / no lake at {lake}")

        def progress(done: int, total: int) -> None:
            self.stderr.write(f"\r存入线索 / storing leads {done}/{total}", ending="")
            self.stderr.flush()

        try:
            run = screening.screen_period(
                as_of, trigger="cli", lake_path=lake, policy=policy, progress=progress
            )
        except (FileNotFoundError, NotImplementedError, PolicyError) as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write("")
        self.stdout.write(
            f"筛查批次 #{run.pk} {as_of}（{run.policy_id} {run.policy_hash[:12]}，"
            f"模型 {run.model_version or '规则评分'}）：筛查 {run.households} 户，推送 {run.warnings} 条；"
            f"新建线索 {run.created}，更新 {run.updated}，合并 {run.merged}，跳过 {run.skipped}"
        )
