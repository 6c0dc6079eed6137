"""The demo hook refreshes the recent months and scans the county (an empty lake: no alert, no error)."""

from __future__ import annotations

import datetime as dt

from fangpin.analytics.demo import populate
from fangpin.analytics.models import Indicator, RefreshRun

from .factory import monitored_via_warning


def test_populate_refreshes_recent_months_and_scans(world: object) -> None:
    from django.utils import timezone

    last_month = timezone.localdate().replace(day=1) - dt.timedelta(days=1)
    monitored_via_warning(
        "360722100200",
        found=last_month.replace(day=1).isoformat(),
        decided=last_month.replace(day=5).isoformat(),
    )
    said: list[str] = []
    result = populate(months=2, say=said.append)
    assert result["alerts"] == 0 and len(result["months"]) == 2
    assert RefreshRun.objects.filter(status="done").count() == 2
    assert (
        Indicator.objects.get(
            region="360722", month=result["months"][-1], code="monitored_households", dimension=""
        ).value
        == 1
    )
    assert Indicator.objects.get(region="36", month=result["months"][0], code="new_inclusions").value == 1
    assert any("区域规模性风险扫描" in s for s in said)
