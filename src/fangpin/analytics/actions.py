"""Every change the analytics app makes: indicator refreshes, regional-risk scans, queued exports (each
audited)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from fangpin.accounts.models import User
from fangpin.analytics.exports import monitored_cases
from fangpin.analytics.models import ExportJob, RegionalAlert
from fangpin.analytics.refresh import Progress, refresh_changed, refresh_month
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.kernel import outermost
from fangpin.pipeline.scan import ScanConfig, ScanResult, scan_lake
from fangpin.privacy import actions as privacy
from fangpin.privacy.actions import Purpose
from fangpin.privacy.models import ExportKind, ExportRequest
from fangpin.regions.models import Region


def refresh(
    months: list[str],
    *,
    scope: str = "",
    changed_only: bool = False,
    actor: Any = None,
    progress: Progress | None = None,
) -> list[str]:
    """Refresh the indicator table for the given months (only changed ones with `changed_only`)."""
    if changed_only:
        done = refresh_changed(months, scope=scope, progress=progress)
    else:
        for month in months:
            refresh_month(month, scope=scope, progress=progress)
        done = list(months)
    record(
        Event.INDICATORS_REFRESHED,
        actor=actor,
        object_type="indicator",
        object_id=scope or "all",
        data={"months": done},
    )
    return done


def run_scan(
    as_of: str,
    *,
    county: str,
    lake: Any = None,
    config: ScanConfig | None = None,
    actor: Any = None,
    scanner: Callable[..., ScanResult] = scan_lake,
) -> list[RegionalAlert]:
    """Scan a county's shocks in the lake and replace its stored regional alerts for that month."""
    if lake is None:
        from fangpin.exchange.actions import lake as default_lake

        lake = default_lake()
    result = scanner(lake, as_of, config=config or ScanConfig(), county=county)
    with transaction.atomic():
        RegionalAlert.objects.filter(as_of=as_of, county=county, source="shocks").delete()
        stored = [
            RegionalAlert.objects.create(
                as_of=as_of,
                source="shocks",
                centre=a.centre,
                county=county,
                villages=list(a.villages),
                start=a.start,
                end=a.end,
                observed=a.observed,
                expected=a.expected,
                relative_risk=min(a.relative_risk, 1e6),
                llr=a.llr,
                p_value=a.p_value,
                radius_km=a.radius_km,
                cause=a.cause_zh()[:300],
                risk_types=[list(x) for x in a.risk_types],
                datasets=[list(x) for x in a.datasets],
                households=list(a.households),
            )
            for a in result.alerts
        ]
        record(
            Event.REGIONAL_SCAN,
            actor=actor,
            object_type="region",
            object_id=county,
            data={
                "as_of": as_of,
                "alerts": len(stored),
                "events": result.events_in_window,
                "villages": result.villages,
                "replications": result.replications,
            },
        )
    return stored


def start_household_export(
    user: User, region: Region, purpose: Purpose, approval: ExportRequest | None = None
) -> ExportJob | ExportRequest:
    """Queue a household list for a stated purpose; above the approval threshold it becomes a request
    another person approves (privacy.request_approval; the requester then calls this again with the
    approval)."""
    from fangpin.analytics.tasks import build_export

    if approval is None:
        rows = monitored_cases(user, region).count()
        if privacy.needs_approval(rows):
            return privacy.request_approval(
                user,
                kind=ExportKind.HOUSEHOLDS,
                region_id=region.prefix,
                rows=rows,
                purpose=purpose,
                params={},
            )
    job = _queue_household_export(user, region, purpose, approval)
    build_export.enqueue(job.pk)  # after the durable block: the job row and its audit row are committed
    return job


@outermost
def _queue_household_export(
    user: User, region: Region, purpose: Purpose, approval: ExportRequest | None
) -> ExportJob:
    if approval is not None:
        privacy.use_approval(approval, actor=user, kind=ExportKind.HOUSEHOLDS)
    job = ExportJob.objects.create(user=user, kind="households", region=region, month="")
    if approval is not None:
        privacy.link_export(approval, job.pk)
    record(
        Event.ANALYTICS_EXPORT_REQUESTED,
        actor=user,
        object_type="region",
        object_id=region.prefix,
        reason=purpose.note,
        data={
            "table": "households",
            "job": job.pk,
            **purpose.audit_data(),
            **({"approval": approval.pk} if approval else {}),
        },
    )
    return job
