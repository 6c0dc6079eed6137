"""System checks of the personal-information settings (docs/security.md)."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def admin_networks(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    """AC-08: a malformed network stops the start; no allowlist is a warning in a deployment check."""
    problems: list[Error | Warning] = []
    for cidr in settings.FANGPIN_ADMIN_NETWORKS:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(
                Error(f"FANGPIN_ADMIN_NETWORKS: “{cidr}” 不是有效的网络地址（CIDR）", id="fangpin.E030")
            )
    return problems


@register()
def admin_networks_set(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """In production (FANGPIN_HTTPS=true) an empty allowlist is reported by every `manage check`."""
    if settings.FANGPIN_ADMIN_NETWORKS or not settings.HTTPS:
        return []
    return [
        Warning(
            "FANGPIN_ADMIN_NETWORKS 未设置：系统、安全、审计管理员可从任何网络登录（生产环境应限定管理网络）",
            id="fangpin.W030",
        )
    ]
