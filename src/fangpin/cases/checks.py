"""`fangpin manage check --database default` warns when working-day deadlines soon reach a year without
an official holiday schedule (the same notice the deadline settings page shows). Every start refuses an
unusable `FANGPIN_CLAMD` address (else the first upload would fail)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.checks import Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError
from django.utils import timezone


@register(Tags.database)
def holiday_schedule(app_configs: Any, databases: Any = None, **kwargs: Any) -> list[CheckWarning]:
    if not databases:
        return []
    from fangpin.cases import deadlines

    today = timezone.localdate()
    try:
        missing = deadlines.unknown_years(today, today + dt.timedelta(days=deadlines.SETTINGS_LOOKAHEAD_DAYS))
    except DatabaseError:  # before the first migrate the table does not exist yet
        return []
    if not missing:
        return []
    return [
        CheckWarning(
            f"{deadlines.provisional_notice(missing)} / no holiday schedule for {missing}: "
            "working-day deadlines are estimated as Monday–Friday",
            hint="fangpin calendar load FILE.yaml --recompute（见 docs/workflow.md）",
            id="fangpin.W010",
        )
    ]


@register()
def clamd_address(app_configs: Any, **kwargs: Any) -> list[Error]:
    from fangpin.cases import uploads
    from fangpin.conf import ConfigError, env_str

    address = env_str("FANGPIN_CLAMD")
    try:
        if address:
            uploads.clamd_target(address)
    except ConfigError as exc:
        return [Error(str(exc), hint="例如 /run/clamav/clamd.ctl 或 127.0.0.1:3310", id="fangpin.E011")]
    return []
