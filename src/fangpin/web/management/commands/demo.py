from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from fangpin import demo
from fangpin.web.server import serve


class Command(BaseCommand):
    help = "演示：模拟县 + 户籍 + 各角色演示账号，并启动网页 / the demo: synthetic county, registry, accounts, web UI"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--households", type=int, default=3000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", dest="serve", action="store_false")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"数据目录 / FANGPIN_HOME: {settings.FANGPIN_HOME}")
        call_command("migrate", verbosity=0)
        accounts = demo.run(options["households"], options["seed"], say=self.stdout.write)
        path = settings.FANGPIN_HOME / "demo-accounts.txt"
        lines = [f"{a.username:<14} {pw:<18} {a.role:<18} {place}" for a, pw, place in accounts]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o600)
        self.stdout.write("\n演示账号（本次运行生成的随机密码，也保存在 demo-accounts.txt）/ demo accounts:")
        self.stdout.write(f"  {'用户名':<11} {'密码':<16} {'角色':<18} 区划")
        for line in lines:
            self.stdout.write("  " + line)
        self.stdout.write(
            "三员（xf_sysadmin/xf_secadmin/xf_auditor）首次登录须用手机验证器绑定动态口令。\n"
            "The three administrators must enrol a TOTP authenticator at first login.\n"
        )
        if options["serve"]:
            self.stdout.write(f"打开 / open http://127.0.0.1:{options['port']}/  (Ctrl+C 停止 / to stop)")
            serve("127.0.0.1", options["port"])
