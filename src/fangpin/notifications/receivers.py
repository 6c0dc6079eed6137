"""Messages that other apps' events trigger here, so those apps need not import notifications."""

from __future__ import annotations

from typing import Any

from fangpin.accounts.models import User
from fangpin.notifications.actions import notify

_SECURITY_TITLES = {
    "TOTP_ENROLLED": "您的账号已启用动态口令",
    "TOTP_REBOUND": "您的账号已更换动态口令验证器",
    "TOTP_RESET": "您的账号动态口令已被管理员重置",
    "PASSWORD_RESET": "您的账号密码已被管理员重置",
}


def tell_about_account_security(sender: Any, *, user: User, event: str, actor: User | None, **_: Any) -> None:
    """The person hears of every change to their credentials, by inbox and mail (not the region's chat
    robots): if they did not ask for it, they call the security administrator."""
    by = "" if actor is None or actor.pk == user.pk else f"（操作人：{actor.full_name or actor.username}）"
    title = _SECURITY_TITLES.get(event, "您的账号安全设置已变更")
    notify(
        [user],
        title + by,
        "如非本人或本人申请所为，请立即联系安全管理员。",
        verb="account_security",
        webhook=False,
        email=True,
    )
