"""What `make demo` calls once the demo's leads and cases exist: indicators for the recent months and the
regional-risk scan of the county (so the dashboards and the alert page show the simulated county)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from fangpin.analytics.actions import refresh, run_scan
from fangpin.analytics.models import Indicator
from fangpin.lib.periods import recent_periods


def populate(
    *, months: int = 3, county: str = "360722", lake: Any = None, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Refresh the indicator table for the last `months` months and scan `county`'s shocks as of the latest."""
    periods = recent_periods(months, timezone.localdate())
    say(f"计算监测指标 {periods[0]} 至 {periods[-1]} / refreshing the indicators…")
    refresh(periods)
    say(f"区域规模性风险扫描 {county} {periods[-1]} / space-time scan of the county's shocks…")
    alerts = run_scan(periods[-1], county=county, lake=lake)
    rows = Indicator.objects.filter(month__in=periods).count()
    say(
        f"指标 {rows} 行，区域风险预警 {len(alerts)} 条 / {rows} indicator rows, {len(alerts)} regional alerts"
    )
    return {"months": periods, "indicator_rows": rows, "alerts": len(alerts)}
