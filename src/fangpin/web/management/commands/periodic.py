"""The clock of a single-machine installation: the jobs that must run on their own, on a schedule.

`fangpin serve` starts it next to the background-job worker. Every job here is safe to repeat (each
deadline is escalated once; a notification is retried only when due), so a restart or two clocks at
once do no harm. Larger installations run `fangpin manage periodic` as a service or from cron.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

log = logging.getLogger(__name__)

# (management command and its options, what it does) — run in this order on every tick
JOBS: list[tuple[str, str]] = [
    ("exchange_recover", "中断的导入标记为失败 interrupted imports"),
    ("cases_escalate", "案件到期/超期提醒 deadline escalation"),
    ("notifications_retry", "消息重发 webhook/email retries"),
    ("anchor_audit --daily", "审计链每日锚定 daily audit-chain anchor"),
]


class Command(BaseCommand):
    help = (
        "定时任务（到期提醒、消息重发、审计锚定）/ run the periodic jobs every --interval seconds, or --once"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=int, default=900, help="秒 seconds between runs (default 900)")
        parser.add_argument("--once", action="store_true", help="run every job once and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        interval = max(int(options["interval"]), 10)
        while True:
            for command, label in JOBS:
                try:
                    call_command(*command.split(), stdout=self.stdout, stderr=self.stderr)
                # one failing job must not stop the clock (it is logged and retried); commands signal
                # failure with SystemExit too (a broken audit chain refuses to be anchored)
                except (Exception, SystemExit):
                    log.exception("periodic job %s (%s) failed", command, label)
                    self.stderr.write(f"{label}: 失败，见日志 / failed, see the log")
            if options["once"]:
                return
            time.sleep(interval)
