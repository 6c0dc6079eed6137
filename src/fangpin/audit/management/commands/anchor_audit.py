from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fangpin.audit.actions import ChainBroken, anchor_head
from fangpin.lib.anchors import AnchorFileError


class Command(BaseCommand):
    help = (
        "把审计链头写入锚点文件 / write the audit chain head to the anchor file (after verifying the chain)"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--daily", action="store_true", help="今天已锚定则跳过 / skip if anchored today")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            anchor = anchor_head(daily=options["daily"])
        except ChainBroken as exc:
            self.stderr.write(f"审计日志被篡改，未锚定 / audit chain BROKEN at row {exc.seq}: {exc.problem}")
            raise SystemExit(1) from None
        except AnchorFileError as exc:
            self.stderr.write(f"锚点文件被篡改，未锚定 / anchor file BROKEN: {exc}")
            raise SystemExit(1) from None
        if anchor is None:
            self.stdout.write("审计链今日已锚定 / already anchored today")
            return
        self.stdout.write(f"审计链已锚定 / anchored: 记录 #{anchor.seq} MAC {anchor.mac[:16]}… {anchor.at}")
