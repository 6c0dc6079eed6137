"""Data at rest (ADR 0023): the field keyring and the Parquet lake must be readable by the service
account only. The lake's encryption is the deployment's (an encrypted volume); its mode is checkable."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Warning, register

from fangpin.lib.fieldcrypto import KEY_FILE


def _open_to_others(path: Path) -> bool:
    return path.exists() and bool(stat.S_IMODE(path.stat().st_mode) & 0o077)


@register()
def data_at_rest(app_configs: Any, **kwargs: Any) -> list[Warning]:
    found = []
    keys = Path(settings.FANGPIN_HOME) / KEY_FILE
    if _open_to_others(keys):
        found.append(
            Warning(
                f"{keys}: 字段加密密钥文件可被其他用户读取 (the field keyring is readable by others)",
                hint=f"chmod 600 {keys}",
                id="fangpin.W020",
            )
        )
    lake = Path(settings.FANGPIN_LAKE)
    if _open_to_others(lake):
        found.append(
            Warning(
                f"{lake}: 数据湖目录含明文身份号码，可被其他用户访问 (the lake holds ID numbers in clear)",
                hint=f"chmod 700 {lake}，并置于加密卷上 (and keep it on an encrypted volume: ADR 0023)",
                id="fangpin.W021",
            )
        )
    return found
