from __future__ import annotations

from pathlib import Path

import pytest

from fangpin.assistance import actions
from fangpin.assistance.models import MeasureType
from fangpin.regions.models import Region


def test_the_default_toolbox_loads_once_per_county_and_keeps_local_edits(world, audit_rows) -> None:
    county = Region.objects.get(prefix="360722")
    assert actions.seed_toolbox(county) == 22
    entry = MeasureType.objects.get(county=county, code="CY-01")
    assert entry.risk_types == "06;07"  # YAML's 06 read as the code "06", not the number 6
    assert entry.amount == 3000 and entry.labour == "able"
    MeasureType.objects.filter(pk=entry.pk).update(name="本县产业奖补")
    assert actions.seed_toolbox(county) == 0
    assert MeasureType.objects.get(pk=entry.pk).name == "本县产业奖补"
    assert len(audit_rows("TOOLBOX_SEEDED")) == 2


def test_a_broken_toolbox_file_is_refused_whole(world, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("measures:\n  - {code: A, category: magic, name: x}\n", encoding="utf-8")
    with pytest.raises(actions.AssistanceError, match="未知类别"):
        actions.seed_toolbox(Region.objects.get(prefix="360722"), path=bad)
    assert not MeasureType.objects.exists()


def test_the_county_approver_seeds_adds_and_edits_the_toolbox(world, client_for, audit_rows) -> None:
    client = client_for("wang_county")
    assert client.post("/assistance/toolbox/seed/").status_code == 302
    page = client.get("/assistance/toolbox/").content.decode()
    assert "雨露计划职业教育补助" in page and "【假设】" in page
    response = client.post(
        "/assistance/toolbox/new/",
        {
            "code": "CY-09",
            "category": "industry",
            "name": "脐橙产业奖补",
            "risk_types": ["06"],
            "labour": "able",
            "priority": "55",
            "amount": "2000",
            "active": "on",
        },
    )
    assert response.status_code == 302
    created = MeasureType.objects.get(county_id="360722", code="CY-09")
    assert created.risk_types == "06" and created.active
    edit = {
        "code": "CY-09",
        "category": "industry",
        "name": "脐橙产业奖补（2026）",
        "labour": "able",
        "priority": "55",
        "version": str(created.version),
    }
    assert client.post(f"/assistance/toolbox/{created.pk}/", edit).status_code == 302
    created.refresh_from_db()
    assert created.name == "脐橙产业奖补（2026）" and not created.active and created.version == 2
    stale = client.post(f"/assistance/toolbox/{created.pk}/", {**edit, "name": "旧表单"})
    assert stale.status_code == 400 and "已被他人修改" in stale.content.decode()
    assert MeasureType.objects.get(pk=created.pk).name == "脐橙产业奖补（2026）"
    assert [e.data["code"] for e in audit_rows("MEASURE_TYPE_UPDATED")] == ["CY-09"]


def test_village_staff_read_the_toolbox_but_cannot_change_it(world, client_for, toolbox) -> None:
    client = client_for("liu_cadre")
    assert "乡村公益性岗位" in client.get("/assistance/toolbox/").content.decode()
    assert client.post("/assistance/toolbox/seed/").status_code == 403
    entry = MeasureType.objects.get(county_id="360722", code="GY-01")
    assert client.get(f"/assistance/toolbox/{entry.pk}/").status_code == 403


def test_a_county_cannot_edit_another_countys_toolbox(world, client_for, toolbox) -> None:
    other = MeasureType.objects.get(county_id="360731", code="GY-01")
    assert client_for("wang_county").get(f"/assistance/toolbox/{other.pk}/").status_code == 404
    with pytest.raises(actions.AssistanceError, match="本县"):
        actions.save_measure_type(
            Region.objects.get(prefix="360731"),
            {"code": "Z", "category": "other", "name": "z"},
            actor=world.user("wang_county"),
        )
