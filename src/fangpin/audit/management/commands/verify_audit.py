from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from fangpin.audit.actions import verify_chain
from fangpin.cases import integrity


class Command(BaseCommand):
    help = (
        "校验审计日志 MAC 链与锚点、办理记录签章 / verify the audit chain and its anchors and the case "
        "decisions' MACs (exit 1 when tampered)"
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain()
        if report.ok:
            self.stdout.write(
                f"审计日志完整 / audit chain intact: {report.checked} rows, head #{report.head or '—'}, "
                f"{report.anchors} anchors"
            )
        else:
            where = f"row {report.broken_at}" if report.broken_at is not None else "anchor file"
            self.stderr.write(f"审计日志被篡改 / audit chain BROKEN at {where}: {report.problem}")
        altered = 0
        for step in integrity.broken_steps():  # CRY-03
            altered += 1
            self.stderr.write(integrity.describe(step))
        if not altered:
            self.stdout.write("办理记录签章完整 / case decisions intact")
        if altered or not report.ok:
            raise SystemExit(1)
