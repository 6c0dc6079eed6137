from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fangpin.lib.fieldcrypto import FieldCryptoError
from fangpin.web import keys


class Command(BaseCommand):
    help = "字段加密密钥：rotate 新建数据密钥并重新加密 / reencrypt 用当前密钥重新加密"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["rotate", "reencrypt"])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = keys.rotate() if options["action"] == "rotate" else keys.reencrypt()
        except FieldCryptoError as exc:
            raise CommandError(str(exc)) from None
        counts = "，".join(f"{label} {n} 行" for label, n in done.rows.items())
        self.stdout.write(f"当前数据密钥 {done.key_id}；已重新加密：{counts}")
