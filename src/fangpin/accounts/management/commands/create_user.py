from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fangpin.accounts.actions import AccountError, create_user
from fangpin.regions.models import Region


class Command(BaseCommand):
    help = "新建账号 / create an account (the way to create the first administrators)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True)
        parser.add_argument("--region", required=True)
        parser.add_argument("--full-name", dest="full_name", default="")
        parser.add_argument("--department", default="")
        parser.add_argument("--password-stdin", dest="password_stdin", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        region = Region.objects.filter(prefix=options["region"]).first()
        if region is None:
            raise CommandError(f"区划不存在: {options['region']}（先运行 fangpin regions load）")
        password = sys.stdin.readline().rstrip("\n") if options["password_stdin"] else None
        try:
            user, initial = create_user(
                actor=None,
                username=options["username"],
                full_name=options["full_name"],
                role=options["role"],
                region=region,
                department=options["department"],
                password=password,
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"已创建 {user.username}（{user.get_role_display()}，{region.name}）")
        if password is None:
            self.stdout.write(f"初始密码（首次登录须修改）: {initial}")
