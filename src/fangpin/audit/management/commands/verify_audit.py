from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from fangpin.audit.actions import verify_chain


class Command(BaseCommand):
    help = "校验审计日志哈希链 / verify the audit hash chain (exit 1 when a row was edited or deleted)"

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain()
        if report.ok:
            self.stdout.write(f"审计日志完整 / audit chain intact: {report.checked} rows")
            return
        self.stderr.write(f"审计日志被篡改 / audit chain BROKEN at row {report.broken_at}: {report.problem}")
        raise SystemExit(1)
