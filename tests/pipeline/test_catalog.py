"""The catalog loader: the packaged contract, its version, header labels and loud failures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fangpin.pipeline.catalog import CATALOG_PATH, CatalogError, load_catalog
from fangpin.synth import catalog as synth_catalog


def test_packaged_catalog_loads(catalog) -> None:  # type: ignore[no-untyped-def]
    assert len(catalog.datasets) == 25
    assert "public_security" in catalog.departments
    ps = catalog["ps_person"]
    assert ps.cadence == "snapshot" and ps.key_fields == ("id_number",) and ps.department == "public_security"
    assert ps.items[1] == "户籍人口基本信息"
    assert ps.field("gender").values == {"1": "男", "2": "女"}
    assert catalog["df_disability"].field("grade").range == (1.0, 4.0)
    assert ps.header_map()["公民身份号码"] == "id_number" and ps.header_map()["id_number"] == "id_number"
    assert catalog["ag_income"].replace == "key" and ps.replace == "all"
    assert catalog["ed_aid"].identity_fields == ("id_number", "year", "kind", "amount_yuan")


def test_version_is_the_hash_of_the_bytes(tmp_path: Path) -> None:
    assert len(load_catalog().version) == 12
    copy = tmp_path / "c.yaml"
    copy.write_bytes(CATALOG_PATH.read_bytes() + b"\n# edited\n")
    assert load_catalog(copy).version != load_catalog().version


def _edit(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_a_rename_or_a_new_dataset_is_a_yaml_edit(tmp_path: Path) -> None:
    def change(raw: dict) -> None:  # type: ignore[type-arg]
        raw["datasets"]["ps_vehicle"]["fields"][3]["name"] = "price"
        raw["datasets"]["new_thing"] = {
            "department": "water",
            "zh": "新数据",
            "cadence": "events",
            "fields": [{"name": "id_number", "zh": "身份号码", "type": "id"}],
        }

    cat = load_catalog(_edit(tmp_path, change))
    assert cat["ps_vehicle"].header_map()["购置价格"] == "price"
    assert cat["new_thing"].cadence == "events"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["datasets"]["ps_vehicle"]["fields"][0].update(type="uuid"), "unknown type 'uuid'"),
        (lambda r: r["datasets"]["ps_vehicle"]["fields"][1].pop("values"), "an enum needs `values`"),
        (lambda r: r["datasets"]["ps_vehicle"].update(department="police"), "unknown department 'police'"),
        (lambda r: r["datasets"]["ps_vehicle"].update(cadence="daily"), "cadence must be one of"),
        (
            lambda r: r["datasets"]["ps_vehicle"]["fields"][1].update(zh="所有人身份号码"),
            "used by two fields",
        ),
        (lambda r: r["datasets"]["ps_vehicle"]["fields"][0].update(range=[1, 2]), "`range` needs a numeric"),
        (lambda r: r["datasets"]["ps_vehicle"]["fields"][0].pop("zh"), "missing `zh`"),
        (lambda r: r["datasets"]["ps_vehicle"]["fields"][2].update(min_date="1.1.1900"), "YYYY-MM-DD"),
        (lambda r: r["datasets"]["ps_vehicle"]["fields"][2].update(max_length=5), "does not apply"),
        (lambda r: r["datasets"]["ps_vehicle"]["fields"][3].update(not_above="vehicle_type"), "not_above"),
        (
            lambda r: r["datasets"]["ps_vehicle"]["fields"][1]["values"].update(truck="小型汽车"),
            "label repeats",
        ),
    ],
)
def test_a_malformed_catalog_fails_loudly(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace("`", "`")):
        load_catalog(_edit(tmp_path, change))


def test_not_yaml_at_all(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)


def test_the_simulator_uses_the_same_catalog() -> None:
    assert set(synth_catalog.load()) == set(load_catalog().datasets)
    assert synth_catalog.Dataset is type(load_catalog()["ps_person"])
    assert synth_catalog.load()["ps_person"].id_field == "id_number"
