"""Send robot posts and emails whose retry time has come (cron safety net; the db task backend already
schedules retries itself)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from fangpin.notifications.actions import retry_due


class Command(BaseCommand):
    help = "重发到期的群机器人消息和邮件"

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"已尝试发送 {retry_due()} 条")
