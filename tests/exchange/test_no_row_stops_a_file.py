"""No single row stops a file, and a file that cannot be imported yet says why and what to do (issue 12)."""

from __future__ import annotations

import csv
import datetime as dt
import logging
from pathlib import Path

import pytest

from fangpin import cli
from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, Status
from fangpin.lib import idcard
from fangpin.regions.models import Level, Region
from fangpin.registry.models import Membership, Person

PERIOD = "2026-08"
HEADER = ["id_number", "name", "gender", "birth_date", "household_no", "relation", "village_code", "status"]
HEADER += ["status_date"]


def _person(seq: int, village: str, *, male: bool = True, **overrides: str) -> dict[str, str]:
    born = dt.date(1970, 1, 1) + dt.timedelta(days=97 * seq)
    row = {
        "id_number": idcard.make("360722", born, seq, male),
        "name": f"钟{seq}",
        "gender": "1" if male else "2",
        "birth_date": born.isoformat(),
        "household_no": f"{village}{seq:04d}",
        "relation": "01",
        "village_code": village,
        "status": "normal",
        "status_date": "",
    }
    return row | overrides


def _write(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _village() -> str:
    return str(
        Region.objects.filter(level=Level.VILLAGE).order_by("prefix").values_list("prefix", flat=True)[0]
    )


def test_without_regions_a_file_with_village_codes_is_refused_once_naming_the_fix(db, tmp_path: Path) -> None:
    path = _write(tmp_path / "ps_person.csv", [_person(i, "360722100201") for i in range(1, 4)])
    delivery = actions.import_file(path, "ps_person", PERIOD)
    # before: all three rows rejected one by one as region_unknown
    assert delivery.status == Status.REJECTED_WHOLE and delivery.rejected == 0
    assert "fangpin regions load --county" in delivery.message and "区划" in delivery.message
    assert not Person.objects.exists()


def test_with_an_empty_registry_a_person_file_is_refused_naming_the_police_snapshot(
    xinfeng, tmp_path: Path
) -> None:
    header = ["id_number", "year", "insured", "subsidized"]
    rows = [
        {
            "id_number": _person(i, _village())["id_number"],
            "year": "2026",
            "insured": "true",
            "subsidized": "false",
        }
        for i in range(3)
    ]
    delivery = actions.import_file(
        _write(tmp_path / "ms_enrollment.csv", rows, header), "ms_enrollment", PERIOD
    )
    # before: "处理失败：ZeroDivisionError: float division by zero"
    assert delivery.status == Status.REJECTED_WHOLE
    assert "ps_person" in delivery.message and "户籍" in delivery.message
    assert "Error" not in delivery.message


def test_rows_the_registry_refuses_are_quarantined_and_the_rest_registered(xinfeng, tmp_path: Path) -> None:
    village = _village()
    good = [_person(i, village) for i in range(1, 5)]
    wrong_gender = _person(5, village, gender="2")  # a valid ID of a man, delivered as a woman
    wrong_birth = _person(6, village, birth_date="1971-01-01")
    # after the snapshot's month: since the catalog bounds every date (ADR 0028) the exchange refuses it
    late = _person(7, village, status="deceased", status_date="2026-09-15")
    path = _write(tmp_path / "ps_person.csv", [*good[:2], wrong_gender, wrong_birth, late, *good[2:]])
    delivery = actions.import_file(path, "ps_person", PERIOD)
    # before: load_police_snapshot raised {'gender': ['性别与身份号码不一致']} and the whole file failed
    assert delivery.status == Status.ACCEPTED, delivery.message
    assert (delivery.read, delivery.accepted, delivery.rejected) == (7, 4, 3)
    assert delivery.reasons == {"registry_birth_date": 1, "registry_gender": 1, "date_out_of_range": 1}
    assert set(Person.objects.values_list("id_number", flat=True)) == {r["id_number"] for r in good}
    assert Membership.objects.filter(end_date__isnull=True).count() == 4
    quarantined = {r["_row"]: r for r in actions.lake().quarantine(delivery.lake_delivery_id).to_pylist()}
    assert sorted(quarantined) == [3, 4, 5]
    assert quarantined[3]["message_zh"] == "性别与身份号码不一致" and quarantined[3]["raw_value"] == "2"
    assert quarantined[5]["field"] == "status_date" and quarantined[5]["id_number"] == late["id_number"]
    assert delivery.reconciles


def test_an_unexpected_error_is_a_chinese_reason_and_the_traceback_goes_to_the_log(
    xinfeng, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(actions, "ingest_file", broken)
    path = _write(tmp_path / "ps_person.csv", [_person(1, _village())])
    with caplog.at_level(logging.ERROR, logger="fangpin.exchange.actions"):
        delivery = actions.import_file(path, "ps_person", PERIOD)
    assert delivery.status == Status.FAILED
    assert "系统内部错误" in delivery.message and "division" not in delivery.message
    assert "ZeroDivisionError" in caplog.text  # the traceback, for the administrator
    assert cli.main(["exchange", "import", str(path), "--period", PERIOD]) != 0
    assert Delivery.objects.filter(status=Status.FAILED).count() == 2
