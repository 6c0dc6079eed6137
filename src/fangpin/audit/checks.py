from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.checks import Error, register


@register()
def audit_retention(app_configs: Any, **kwargs: Any) -> list[Error]:
    """网络安全法: network/security logs are kept at least six months (SECURITY.md AUD-04)."""
    days = settings.AUDIT_MIN_RETENTION_DAYS
    if days < 180:
        return [
            Error(
                f"FANGPIN_AUDIT_MIN_RETENTION_DAYS={days}: 审计日志至少保留180天 (at least 180 days)",
                id="fangpin.E001",
            )
        ]
    return []


@register()
def trusted_proxies(app_configs: Any, **kwargs: Any) -> list[checks.Warning]:
    """Behind a proxy with no trusted-proxy count, every client has the proxy's address: one login
    throttle and one declaration rate limit for everybody, and audit rows that name the proxy."""
    if settings.SECURE_PROXY_SSL_HEADER and settings.FANGPIN_TRUSTED_PROXIES == 0:
        return [
            checks.Warning(
                "FANGPIN_BEHIND_PROXY=true 但 FANGPIN_TRUSTED_PROXIES=0：所有客户端地址都将是代理的地址"
                " (set FANGPIN_TRUSTED_PROXIES to the number of proxies in front)",
                id="fangpin.W002",
            )
        ]
    return []
