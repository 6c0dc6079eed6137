"""Retention and purge (SECURITY.md PI-06): what is past its period (FANGPIN_RETENTION_DAYS) is deleted
or anonymised, each category audited with its count. What stays is a skeleton without personal
information (the lead, its status and dates). The audit log is never purged here: it keeps at least
FANGPIN_AUDIT_MIN_RETENTION_DAYS, and only its owner role may trim it (audit/maintenance.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.warnings.models import Declaration, Lead, LeadStatus
from fangpin.web.fields import with_indexes

CATEGORY_NAMES = {
    "rejected_declarations": "不予受理的自主申报（申报人姓名、身份号码、电话、说明）",
    "closed_leads": "已办结线索的画像快照与模型解释",
    "quarantine_files": "数据交换隔离区文件（原样保存的被拒记录）",
    "export_files": "已生成的导出文件（台账、户名单）",
}


@dataclass(frozen=True)
class Purged:
    category: str
    retention_days: int
    cutoff: dt.datetime
    count: int


def _cutoff(category: str, now: dt.datetime) -> tuple[int, dt.datetime]:
    days = int(settings.FANGPIN_RETENTION_DAYS[category])
    return days, now - dt.timedelta(days=days)


def _rejected_declarations(cutoff: dt.datetime) -> models.QuerySet[Declaration]:
    return Declaration.objects.filter(lead__status=LeadStatus.REJECTED, lead__updated_at__lt=cutoff).exclude(
        id_number=""
    )


def _closed_leads(cutoff: dt.datetime) -> models.QuerySet[Lead]:
    return Lead.objects.filter(status=LeadStatus.CLOSED, updated_at__lt=cutoff).exclude(
        portrait_snapshot={}, explanation=""
    )


def _old_files(folders: list[Path], pattern: str, cutoff: dt.datetime) -> Iterator[Path]:
    limit = cutoff.timestamp()
    for folder in folders:
        if folder.is_dir():
            yield from (p for p in folder.glob(pattern) if p.is_file() and p.stat().st_mtime < limit)


def _export_folders() -> list[Path]:
    from fangpin.analytics.exports import export_dir
    from fangpin.assistance.actions import exports_dir

    return [exports_dir(), export_dir()]


def _quarantine_folders() -> list[Path]:
    return [Path(settings.FANGPIN_LAKE) / "_quarantine"]


def _anonymise_declarations(found: models.QuerySet[Declaration]) -> int:
    cleared = {"name": "", "id_number": "", "phone": "", "reason_text": "", "client_key": ""}
    return found.update(**with_indexes(Declaration, cleared))


def _anonymise_leads(found: models.QuerySet[Lead]) -> int:
    ids = list(found.values_list("pk", flat=True))
    _anonymise_declarations(Declaration.objects.filter(lead_id__in=ids).exclude(id_number=""))
    return Lead.objects.filter(pk__in=ids).update(portrait_snapshot={}, explanation="")


def _delete(paths: list[Path]) -> int:
    for path in paths:
        path.unlink(missing_ok=True)
    return len(paths)


def purge(*, execute: bool, actor: object = None, now: dt.datetime | None = None) -> list[Purged]:
    """Count (dry run) or purge each category; an executed purge writes one PI_PURGED row per category."""
    now = now or timezone.now()
    results = []
    for category in CATEGORY_NAMES:
        days, cutoff = _cutoff(category, now)
        if category == "rejected_declarations":
            declarations = _rejected_declarations(cutoff)
            count = _anonymise_declarations(declarations) if execute else declarations.count()
        elif category == "closed_leads":
            leads = _closed_leads(cutoff)
            count = _anonymise_leads(leads) if execute else leads.count()
        else:
            folders = _quarantine_folders() if category == "quarantine_files" else _export_folders()
            pattern = "*.parquet" if category == "quarantine_files" else "*.xlsx"
            files = list(_old_files(folders, pattern, cutoff))
            count = _delete(files) if execute else len(files)
        if execute:
            with transaction.atomic():
                record(
                    Event.PI_PURGED,
                    actor=actor,
                    object_type="retention",
                    object_id=category,
                    data={"count": count, "retention_days": days, "cutoff": cutoff.isoformat()},
                )
        results.append(Purged(category, days, cutoff, count))
    return results
