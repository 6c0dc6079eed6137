"""`fangpin cases onboard FILE.xlsx --county 360722` and `fangpin cases reconcile --county C --period P`:
a county's existing 监测对象台账, and the roster-vs-cases reconciliation (assistance/onboarding.py,
assistance/reconcile.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fangpin.assistance.actions import AssistanceError
from fangpin.regions.models import Level, Region


class Command(BaseCommand):
    help = "导入县里已有的监测对象台账，或核对农业农村部门名册 / onboard a county's roster, or reconcile"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["onboard", "reconcile"])
        parser.add_argument("file", nargs="?", default="")
        parser.add_argument("--county", required=True)
        parser.add_argument("--period", default="")
        parser.add_argument("--username", default="cli")

    def handle(self, *args: Any, **options: Any) -> None:
        county = Region.objects.filter(prefix=options["county"], level=Level.COUNTY).first()
        if county is None:
            raise CommandError(f"没有县级区划 {options['county']}（先加载区划：fangpin regions load）")
        try:
            if options["action"] == "onboard":
                self._onboard(options["file"], county, options["username"])
            else:
                self._reconcile(county, options["period"], options["username"])
        except AssistanceError as exc:
            raise CommandError(str(exc)) from exc

    def _onboard(self, file: str, county: Region, username: str) -> None:
        from fangpin.assistance.onboarding import import_ledger

        path = Path(file)
        if not file or not path.is_file():
            raise CommandError(f"找不到台账文件 / no such file: {file}")
        report = import_ledger(path, county, username=username)
        c = report.as_dict()
        self.stdout.write(
            f"{county.name} 台账 {path.name}：读取 {c['read']} 行，新建监测案件 {c['created']} 户（已消除风险 "
            f"{c['eliminated']}，暂缓消除 {c['held']}），此前已导入 {c['unchanged']} 户，已有本系统案件 "
            f"{c['reported']} 户，拒收 {c['rejected']} 行 / read {c['read']}, created {c['created']}, "
            f"unchanged {c['unchanged']}, reported {c['reported']}, rejected {c['rejected']}"
        )
        for item in [*report.rejected, *report.reported]:
            self.stdout.write(f"  第 {item.row} 行 row {item.row} · {item.household_no} · {item.reason}")

    def _reconcile(self, county: Region, period: str, username: str) -> None:
        from django.utils import timezone

        from fangpin.assistance.reconcile import reconcile
        from fangpin.lib.periods import recent_periods

        counts = reconcile(county, period or recent_periods(1, timezone.localdate())[0], username=username)
        self.stdout.write(
            "名册核对 / reconciliation: " + "，".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )
