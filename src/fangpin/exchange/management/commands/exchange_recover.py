"""Mark imports killed mid-way (still "processing", their process gone) as failed with 导入中断, so they
can be imported again. `fangpin serve` runs it before starting the job worker; the clock on every tick."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from fangpin.exchange.actions import recover_interrupted


class Command(BaseCommand):
    help = "把中断的导入标记为失败（导入中断），以便重新导入 / mark interrupted imports as failed"

    def handle(self, *args: Any, **options: Any) -> None:
        recovered = recover_interrupted()
        self.stdout.write(f"中断的导入：{len(recovered)} 条" + (f"（{recovered}）" if recovered else ""))
