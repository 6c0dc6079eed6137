from __future__ import annotations

from typing import Any

from django.conf import settings
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
