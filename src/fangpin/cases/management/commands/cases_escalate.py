"""Send due-soon and overdue notices for cases to the next level (run daily; safe to repeat)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from fangpin.cases.deadlines import escalate


class Command(BaseCommand):
    help = "案件到期前/超期提醒上级（可重复运行，每个时限只提醒一次） / escalate cases near or past their deadline"

    def handle(self, *args: Any, **options: Any) -> None:
        report = escalate()
        self.stdout.write(
            f"即将到期提醒 {report.due_soon} 件，超期提醒 {report.overdue} 件，已提醒过 {report.already_sent} 件"
        )
