"""`fangpin calendar load FILE.yaml [--recompute]` / `fangpin calendar show [--year Y]`: the official
holiday schedule (see cases/holidays.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Max
from django.utils import timezone

from fangpin.cases import deadlines
from fangpin.cases.holidays import PACKAGE_NAMES, CalendarError, WorkingCalendar
from fangpin.cases.models import OfficialDay


class Command(BaseCommand):
    help = "法定节假日安排：录入一个年度或查看 / enter a year's official holiday schedule, or show them"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["load", "show"])
        parser.add_argument("file", nargs="?", default="")
        parser.add_argument("--year", type=int, default=None)
        parser.add_argument("--recompute", action="store_true")
        parser.add_argument("--username", default="cli")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "load":
            self._load(options["file"], recompute=options["recompute"], username=options["username"])
        elif options["year"] is not None:
            self._show_year(options["year"])
        else:
            self._show_all()

    def _load(self, path: str, *, recompute: bool, username: str) -> None:
        if not path:
            raise CommandError("请给出节假日安排文件 / give the schedule FILE.yaml")
        try:
            text = Path(path).read_text(encoding="utf-8")
            report = deadlines.load_holidays(text, username=username, recompute=recompute)
        except (OSError, UnicodeDecodeError, CalendarError) as exc:
            raise CommandError(f"{exc}\n未录入任何日期 / nothing was loaded") from exc
        again = f"，替换原有 {report.replaced} 条 / replaced {report.replaced}" if report.replaced else ""
        self.stdout.write(
            f"已录入 {report.year} 年节假日安排 / loaded {report.year}: 放假 {report.holidays} 天，"
            f"调休上班 {report.working_days} 天{again}"
        )
        if report.recomputed is not None:
            r = report.recomputed
            self.stdout.write(
                f"重算办结时限 / recomputed deadlines: 涉及 {r.checked} 件，改变 {r.changed} 件，"
                f"时限规则已调整未重算 {r.rule_changed} 件 / checked {r.checked}, changed {r.changed}, "
                f"rule changed since opening {r.rule_changed}"
            )
        else:
            self.stdout.write(
                "办理中案件的时限未改动；如需按新安排重算，请加 --recompute 重新录入 / "
                "open cases keep their deadlines; load again with --recompute to recompute them"
            )

    def _show_all(self) -> None:
        calendar = WorkingCalendar()
        rows = (
            OfficialDay.objects.values("year")
            .annotate(days=Count("id"), notice=Max("notice"), by=Max("entered_by"), at=Max("entered_at"))
            .order_by("year")
        )
        self.stdout.write("已录入的年度 / entered years:")
        for row in rows:
            self.stdout.write(
                f"  {row['year']}  {row['days']} 天  {row['notice']}  "
                f"({row['by'] or '—'}, {timezone.localtime(row['at']):%Y-%m-%d %H:%M})"
            )
        if not rows:
            self.stdout.write("  （无 / none）")
        package = sorted({d.year for d in chinese_calendar.holidays})
        self.stdout.write(f"chinesecalendar 软件包 / package: {package[0]}–{package[-1]}")
        today = timezone.localdate()
        missing = [y for y in (today.year, today.year + 1) if not calendar.known(y)]
        if missing:
            self.stdout.write(f"注意 / warning: {deadlines.provisional_notice(missing)}")

    def _show_year(self, year: int) -> None:
        calendar = WorkingCalendar()
        source = calendar.source(year)
        if source == "table":
            days = list(OfficialDay.objects.filter(year=year).order_by("date"))
            self.stdout.write(f"{year}：已录入 / entered — {days[0].notice}（{days[0].entered_by or '—'}）")
            for day in days:
                weekday = "一二三四五六日"[day.date.weekday()]
                self.stdout.write(f"  {day.date} 周{weekday}  {day.get_kind_display()} {day.name}")
            return
        if source == "package":
            self.stdout.write(f"{year}：来自 chinesecalendar 软件包 / from the package")
            listed = [
                *((d, "放假", n) for d, n in chinese_calendar.holidays.items() if d.year == year),
                *((d, "调休上班", n) for d, n in chinese_calendar.workdays.items() if d.year == year),
            ]
            for day, kind, name in sorted(listed):
                label = PACKAGE_NAMES.get(str(name), str(name))
                self.stdout.write(f"  {day} 周{'一二三四五六日'[day.weekday()]}  {kind} {label}")
            return
        self.stdout.write(f"{year}：{deadlines.provisional_notice([year])} / unknown: Monday–Friday")
