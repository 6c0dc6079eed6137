"""Importing a simulated county's deliveries: every row validated, nothing lost, nothing twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fangpin import cli
from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, Status
from fangpin.lib import idcard
from fangpin.registry.models import Household, Person

from .conftest import PERIODS


def import_month(folder: Path, period: str) -> int:
    return cli.main(["exchange", "import", str(folder / "deliveries" / period), "--period", period])


def test_it_imports_every_dataset_and_every_row_is_accounted_for(xinfeng, county_deliveries: Path) -> None:
    assert import_month(county_deliveries, PERIODS[0]) == 0
    deliveries = Delivery.objects.filter(period=PERIODS[0])
    assert deliveries.filter(status=Status.ACCEPTED).count() >= 20
    for d in deliveries:
        assert d.reconciles, d.dataset
        assert d.progress == 100


def test_the_registry_is_built_from_the_police_snapshot(xinfeng, county_deliveries: Path) -> None:
    import_month(county_deliveries, PERIODS[0])
    police = Delivery.objects.get(dataset="ps_person", period=PERIODS[0])
    stored = pq.read_table(
        actions.lake().data_path("ps_person", PERIODS[0], police.lake_delivery_id), columns=["id_number"]
    )
    stored_ids = stored.column("id_number").to_pylist()
    registered = set(Person.objects.values_list("id_number", flat=True))
    assert registered == set(stored_ids) - {i for i in stored_ids if i not in registered}
    # one person per accepted row of the snapshot, but for the rows with a broken ID (linked or in review)
    unregistered = [i for i in stored_ids if i not in registered]
    assert len(registered) == police.accepted - len(unregistered)
    assert all(idcard.problem(i) is not None or i.endswith("000") for i in unregistered), unregistered
    assert Household.objects.count() >= 400


def test_bad_ids_are_quarantined_with_their_reason(xinfeng, county_deliveries: Path) -> None:
    import_month(county_deliveries, PERIODS[0])
    defects = pq.read_table(county_deliveries / "truth" / "defects.parquet").to_pylist()
    kinds = {d["kind"] for d in defects if d["period"] == PERIODS[0] and d["kind"].startswith("id_")}
    reasons: dict[str, int] = {}
    for d in Delivery.objects.filter(period=PERIODS[0]):
        for code, n in d.reasons.items():
            reasons[code] = reasons.get(code, 0) + n
    assert kinds and kinds <= set(reasons), (kinds, reasons)


def test_importing_the_same_delivery_again_changes_nothing(xinfeng, county_deliveries: Path) -> None:
    import_month(county_deliveries, PERIODS[0])
    persons, accepted = Person.objects.count(), Delivery.objects.filter(status=Status.ACCEPTED).count()
    assert import_month(county_deliveries, PERIODS[0]) == 0
    assert Person.objects.count() == persons
    assert Delivery.objects.filter(status=Status.ACCEPTED).count() == accepted
    assert Delivery.objects.filter(status=Status.DUPLICATE).count() == accepted


def test_a_file_with_the_wrong_columns_is_rejected_whole(xinfeng, tmp_path: Path) -> None:
    bad = tmp_path / "ms_settlement.csv"
    bad.write_text("settlement_id,wrong_column\n1,2\n", encoding="utf-8")
    delivery = actions.import_file(bad, "ms_settlement", "2026-08")
    assert delivery.status == Status.REJECTED_WHOLE and "缺少" in delivery.message
    assert delivery.accepted == 0


def test_the_cli_explains_an_unknown_dataset_or_period(
    xinfeng, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["exchange", "import", str(tmp_path), "--period", "2026-13"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    stray = tmp_path / "not_a_dataset.csv"
    stray.write_text("a\n1\n", encoding="utf-8")
    assert cli.main(["exchange", "import", str(stray), "--period", "2026-08"]) == 2


def test_a_late_month_links_events_to_people_registered_earlier(xinfeng, county_deliveries: Path) -> None:
    for period in PERIODS:
        import_month(county_deliveries, period)
    settlements = Delivery.objects.filter(dataset="ms_settlement", status=Status.ACCEPTED)
    assert settlements.exists()
    assert all(d.linked >= 0.95 * d.accepted for d in settlements if d.accepted)


def test_the_catalog_can_be_changed_by_configuration(xinfeng, tmp_path: Path) -> None:
    from fangpin.pipeline.catalog import CATALOG_PATH

    text = Path(CATALOG_PATH).read_text(encoding="utf-8").replace("zh: 失业登记", "zh: 失业登记信息")
    version = actions.load_catalog_version(text, username="test")
    assert actions.active_catalog().version == version.version
    assert actions.active_catalog().datasets["hr_unemployment"].zh == "失业登记信息"
    with pytest.raises(actions.ExchangeError):
        actions.load_catalog_version("datasets: 3", username="test")
    assert actions.active_catalog().version == version.version


def test_a_gbk_file_with_chinese_headers_imports(xinfeng, county_deliveries: Path, tmp_path: Path) -> None:
    folder = tmp_path / "gbk"
    folder.mkdir()
    (folder / "hr_unemployment.csv").write_bytes(
        "公民身份号码,登记日期,注销日期\n11010519491231002X,2026-08-03,\n".encode("gb18030")
    )
    shutil.copy(county_deliveries / "deliveries" / PERIODS[0] / "ps_person.csv", folder / "ps_person.csv")
    assert cli.main(["exchange", "import", str(folder), "--period", PERIODS[0]]) == 0
    assert Delivery.objects.get(dataset="hr_unemployment").encoding.lower().replace("-", "") in (
        "gb18030",
        "gbk",
    )
