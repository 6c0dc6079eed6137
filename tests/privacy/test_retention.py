"""Retention and purge (SECURITY.md PI-06): `fangpin manage purge --dry-run | --execute` anonymises or
deletes what is past its period — rejected self-declarations, closed leads' portraits, lake quarantine
files, generated export files — audits each category with its count, and never touches the audit log."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from conftest import make_id
from fangpin.audit.actions import verify_chain
from fangpin.audit.models import AuditEvent
from fangpin.warnings.models import Declaration, Lead

OLD = timezone.now() - dt.timedelta(days=400)


def _lead(world, status: str, *, old: bool, declared: bool = False) -> Lead:
    household = world.households["own"]
    lead = Lead.objects.create(
        household=household,
        village_id=household.village_id,
        channel="self_declaration" if declared else "cadre_report",
        status=status,
        period="2025-10",
        portrait_snapshot={"income_per_capita": 5200, "disease": "尿毒症"},
        explanation="医疗自付高",
    )
    if declared:
        Declaration.objects.create(
            lead=lead,
            name="赖春梅",
            id_number=make_id(),
            phone="13812345678",
            reason_category="01",
            reason_text="丈夫住院，自付六万元",
            consent_version="2025-1",
            consent_at=timezone.now(),
            client_key="k",
        )
    if old:
        Lead.objects.filter(pk=lead.pk).update(updated_at=OLD)  # (update() leaves auto_now alone)
    return lead


def _file(path: Path, *, old: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    if old:
        os.utime(path, (OLD.timestamp(), OLD.timestamp()))
    return path


@pytest.fixture
def aged(world, settings, tmp_path) -> dict[str, object]:
    from fangpin.analytics.exports import export_dir
    from fangpin.assistance.actions import exports_dir

    settings.FANGPIN_HOME = tmp_path
    settings.FANGPIN_RETENTION_DAYS = {**settings.FANGPIN_RETENTION_DAYS, "closed_leads": 365}
    quarantine = Path(settings.FANGPIN_LAKE) / "_quarantine"
    return {
        "rejected_old": _lead(world, "rejected", old=True, declared=True),
        "rejected_new": _lead(world, "rejected", old=False, declared=True),
        "accepted_old": _lead(world, "accepted", old=True, declared=True),
        "closed_old": _lead(world, "closed", old=True),
        "closed_new": _lead(world, "closed", old=False),
        "quarantine_old": _file(quarantine / "d-old.parquet", old=True),
        "quarantine_new": _file(quarantine / "d-new.parquet", old=False),
        "roster_old": _file(exports_dir() / "roster-1.xlsx", old=True),
        "households_old": _file(export_dir() / "analytics-1.xlsx", old=True),
        "roster_new": _file(exports_dir() / "roster-2.xlsx", old=False),
    }


def _purge(*args: str) -> str:
    out = io.StringIO()
    call_command("purge", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_counts_and_changes_nothing(aged) -> None:
    before = AuditEvent.objects.count()
    text = _purge("--dry-run")
    assert "rejected_declarations: 1" in text and "closed_leads: 1" in text
    assert "quarantine_files: 1" in text and "export_files: 2" in text and "未删除" in text
    assert Declaration.objects.filter(name="赖春梅").count() == 3
    assert all(
        Path(p).exists() for k, p in aged.items() if k.endswith(("_old", "_new")) and isinstance(p, Path)
    )
    assert AuditEvent.objects.count() == before


def test_execute_purges_what_is_past_retention_keeps_the_rest_and_audits_counts(aged, client_for) -> None:
    audit_before = AuditEvent.objects.count()
    _purge("--execute")
    gone = Declaration.objects.get(lead=aged["rejected_old"])
    assert (gone.name, gone.id_number, gone.phone, gone.reason_text) == ("", "", "", "")
    assert Declaration.objects.get(lead=aged["rejected_new"]).id_number != ""
    assert Declaration.objects.get(lead=aged["accepted_old"]).id_number != ""  # still being handled
    closed = Lead.objects.get(pk=aged["closed_old"].pk)
    assert closed.portrait_snapshot == {} and closed.explanation == "" and closed.status == "closed"
    assert Lead.objects.get(pk=aged["closed_new"].pk).portrait_snapshot != {}
    assert not aged["quarantine_old"].exists() and aged["quarantine_new"].exists()
    assert not aged["roster_old"].exists() and not aged["households_old"].exists()
    assert aged["roster_new"].exists()
    counts = {e.object_id: e.data["count"] for e in AuditEvent.objects.filter(event_type="PI_PURGED")}
    assert counts == {
        "rejected_declarations": 1,
        "closed_leads": 1,
        "quarantine_files": 1,
        "export_files": 2,
    }
    # the audit log keeps its rows (its own floor, FANGPIN_AUDIT_MIN_RETENTION_DAYS) and its chain
    assert AuditEvent.objects.count() == audit_before + 4 and verify_chain().ok
    # the skeleton stays usable: the lead's page opens, the declarant's data is gone
    page = client_for("zhang_township").get(f"/leads/{aged['rejected_old'].pk}/")
    assert page.status_code == 200 and "赖*梅" not in page.content.decode()
    # a second run finds nothing more
    _purge("--execute")
    again = AuditEvent.objects.filter(event_type="PI_PURGED").order_by("-id")[:4]
    assert all(e.data["count"] == 0 for e in again)


def test_the_command_needs_a_mode() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("purge")
