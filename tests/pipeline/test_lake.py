"""The lake through ingest: idempotency, events dedupe, snapshot semantics, point-in-time reads."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fangpin.lib import idcard
from fangpin.pipeline.ingest import IngestReport, ingest_file, ingest_folder
from fangpin.pipeline.lake import Lake

SETTLEMENT = ["settlement_id", "id_number", "settle_date", "visit_type", "total_cost", "basic_paid",
              "critical_paid", "assistance_paid", "self_pay"]  # fmt: skip
INCOME = ["household_no", "year", "members", "wage_income", "business_income", "business_cost",
          "property_income", "transfer_income"]  # fmt: skip


def _ingest(lake: Lake, catalog, path: Path, period: str, **kw) -> IngestReport:  # type: ignore[no-untyped-def]
    return ingest_file(path, path.stem, period, lake=lake, catalog=catalog, known_villages=None, **kw)


def _settlement(sid: str, id_number: str = "360722197111180017") -> list[str]:
    return [sid, id_number, "2026-08-03", "inpatient", "100.00", "60.00", "0.00", "0.00", "40.00"]


def _income(household: str, year: str, wage: str) -> list[str]:
    return [household, year, "3", wage, "0", "0", "0", "0"]


def _ids(n: int, start: int = 0) -> list[str]:
    return [
        idcard.make("360722", dt.date(1960, 1, 1) + dt.timedelta(days=i), 1, True)
        for i in range(start, start + n)
    ]


def test_folder_import_reports_every_file(tmp_path: Path, sim: Path, lake: Lake, catalog) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "delivery"
    shutil.copytree(sim / "deliveries" / "2026-08", folder)
    (folder / "notes.txt").write_text("hello", encoding="utf-8")
    (folder / "unknown_dataset.csv").write_text("a\n1\n", encoding="utf-8")
    seen: list[tuple[str, str]] = []
    reports = ingest_folder(folder, "2026-08", lake=lake, catalog=catalog, known_villages=None,
                            progress=lambda ds, stage: seen.append((ds, stage)))  # fmt: skip
    by_file = {r.file: r for r in reports}
    assert by_file["notes.txt"].status == "rejected_whole" and by_file["notes.txt"].code == "unknown_dataset"
    assert by_file["unknown_dataset.csv"].code == "unknown_dataset"
    assert "_manifest.json" not in by_file
    manifest = json.loads((folder / "_manifest.json").read_text("utf-8"))
    for info in manifest["datasets"].values():
        r = by_file[info["file"]]
        assert r.status == "accepted" and r.read == info["rows"], r
        assert r.read == r.accepted + r.rejected + r.duplicates
        assert sum(r.reasons.values()) == r.rejected and len(r.content_hash) == 64
    assert ("ps_person", "commit") in seen
    assert len(lake.deliveries()) == len(manifest["datasets"])


def test_reimport_is_idempotent(tmp_path: Path, lake: Lake, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    path = tiny.write_csv(tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row()])
    first = _ingest(lake, catalog, path, "2026-08")
    files = sorted(p.relative_to(lake.root) for p in lake.root.rglob("*") if p.is_file())
    again = _ingest(lake, catalog, path, "2026-08")
    assert first.status == "accepted" and again.status == "duplicate"
    assert again.delivery_id == first.delivery_id and again.accepted == 1 and "已于" in again.message_zh
    assert sorted(p.relative_to(lake.root) for p in lake.root.rglob("*") if p.is_file()) == files
    assert lake.find("ps_person", "2026-08", first.content_hash) == first.delivery_id
    # the same bytes for another month are a delivery of that month
    assert _ingest(lake, catalog, path, "2026-09").status == "accepted"


def test_whole_file_rejection_leaves_the_lake_alone(tmp_path: Path, lake: Lake, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    header = [h for h in tiny.PERSON_HEADER if h != "name"]
    row = [v for h, v in zip(tiny.PERSON_HEADER, tiny.person_row(), strict=True) if h != "name"]
    report = _ingest(lake, catalog, tiny.write_csv(tmp_path / "ps_person.csv", header, [row]), "2026-08")
    assert (report.status, report.code, report.message_zh) == (
        "rejected_whole",
        "schema",
        "缺少字段：姓名(name)",
    )
    assert report.delivery_id is None and lake.deliveries() == []


def test_events_dedupe_across_deliveries(tmp_path: Path, lake: Lake, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = tiny.write_csv(
        tmp_path / "a" / "ms_settlement.csv", SETTLEMENT, [_settlement("S1"), _settlement("S2")]
    )
    b_rows = [_settlement("S2"), _settlement("S3"), _settlement("S3")]
    b = tiny.write_csv(tmp_path / "b" / "ms_settlement.csv", SETTLEMENT, b_rows)
    first = _ingest(lake, catalog, a, "2026-08")
    second = _ingest(lake, catalog, b, "2026-09")
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (second.read, second.accepted, second.duplicates, second.reasons) == (
        3,
        1,
        1,
        {"duplicate_in_file": 1},
    )
    assert "1行为此前已报送的重复记录" in second.message_zh
    assert lake.read("ms_settlement", "2026-08").column("settlement_id").to_pylist() == ["S1", "S2"]
    events = lake.read("ms_settlement", "2026-09")
    assert events.column("settlement_id").to_pylist() == ["S1", "S2", "S3"]
    assert events.column("_period").to_pylist() == ["2026-08", "2026-08", "2026-09"]


def test_simulated_events_are_unique_in_the_lake(sim: Path, lake: Lake, catalog) -> None:  # type: ignore[no-untyped-def]
    duplicates = 0
    events = [name for name, ds in catalog.datasets.items() if ds.cadence == "events"]
    for period in ("2026-08", "2026-09", "2026-10"):
        for path in sorted((sim / "deliveries" / period).glob("*.csv")):
            if path.stem in events:
                duplicates += _ingest(lake, catalog, path, period).duplicates
    assert duplicates > 0
    for name, ds in catalog.datasets.items():
        if ds.cadence == "events":
            t = lake.read(name, "2026-10")
            keys = t.select(list(ds.identity_fields)).group_by(list(ds.identity_fields)).aggregate([])
            assert keys.num_rows == t.num_rows, name
    # the late dataset: absent in August, its August rows arrive with September
    assert lake.read("em_accident", "2026-08").num_rows == 0
    assert lake.read("em_accident", "2026-09").num_rows > 0


def test_snapshot_replacement(tmp_path: Path, lake: Lake, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    i1, i2, i3 = _ids(3)
    for period, ids in (("2026-08", [i1, i2]), ("2026-09", [i2, i3])):
        folder = tmp_path / period
        folder.mkdir()
        path = tiny.write_csv(folder / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row(i) for i in ids])
        assert _ingest(lake, catalog, path, period).status == "accepted"
    assert lake.read("ps_person", "2026-08").column("id_number").to_pylist() == [i1, i2]
    assert lake.read("ps_person", "2026-09").column("id_number").to_pylist() == [i2, i3]
    assert lake.read("ps_person", "2026-12").column("id_number").to_pylist() == [
        i2,
        i3,
    ]  # missing months: last state
    assert lake.read("ps_person", "2026-07").num_rows == 0
    # a corrected file for August, delivered later, replaces August only
    fix = tiny.write_csv(tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row(i1)])
    _ingest(lake, catalog, fix, "2026-08")
    assert lake.read("ps_person", "2026-08").column("id_number").to_pylist() == [i1]
    assert lake.read("ps_person", "2026-09").column("id_number").to_pylist() == [i2, i3]


def test_keyed_snapshot_replaces_only_rows_with_the_same_key(
    tmp_path: Path, lake: Lake, catalog, tiny
) -> None:  # type: ignore[no-untyped-def]
    march = tiny.write_csv(
        tmp_path / "ag_income.csv", INCOME, [_income("H1", "2024", "100"), _income("H2", "2024", "200")]
    )
    _ingest(lake, catalog, march, "2025-03")
    (tmp_path / "next").mkdir()
    later = tiny.write_csv(
        tmp_path / "next" / "ag_income.csv",
        INCOME,
        [_income("H1", "2025", "150"), _income("H2", "2024", "210")],
    )
    _ingest(lake, catalog, later, "2026-03")

    def state(period: str) -> list[tuple[str, int, str]]:
        t = lake.read("ag_income", period)
        rows = zip(
            t.column("household_no").to_pylist(),
            t.column("year").to_pylist(),
            t.column("wage_income").to_pylist(),
            strict=True,
        )
        return sorted((h, y, str(w)) for h, y, w in rows)

    assert state("2025-12") == [("H1", 2024, "100.00"), ("H2", 2024, "200.00")]
    assert state("2026-03") == [("H1", 2024, "100.00"), ("H1", 2025, "150.00"), ("H2", 2024, "210.00")]
    # the engine scanning the files (Lake.source, latest_by) keeps the same row per key
    cols = ["household_no", "year", "wage_income"]
    seen = lake.engine.query("SELECT * FROM src", {"src": lake.source("ag_income", "2026-03", columns=cols)})
    assert _rows(seen) == _rows(lake.read("ag_income", "2026-03", columns=cols))


def test_point_in_time_by_commit_time(tmp_path: Path, lake: Lake, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    i1, i2 = _ids(2)
    first = tiny.write_csv(tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row(i1)])
    _ingest(lake, catalog, first, "2026-08")
    between = dt.datetime.now(dt.UTC)
    (tmp_path / "fix").mkdir()
    fix = tiny.write_csv(tmp_path / "fix" / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row(i2)])
    _ingest(lake, catalog, fix, "2026-08")
    assert lake.read("ps_person", "2026-08").column("id_number").to_pylist() == [i2]
    assert lake.read("ps_person", "2026-08", as_of_time=between).column("id_number").to_pylist() == [i1]
    assert lake.read("ps_person", "2026-08", as_of_time=between - dt.timedelta(days=1)).num_rows == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        lake.read("ps_person", "2026-08", as_of_time=dt.datetime(2026, 8, 1))


def test_quarantine_keeps_rejected_rows_as_given(tmp_path: Path, lake: Lake, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    rows = [
        tiny.person_row(),
        tiny.person_row("3.60722E+17"),
        tiny.person_row(" 360722198101290006 ", gender="9"),
    ]
    report = _ingest(
        lake, catalog, tiny.write_csv(tmp_path / "ps_person.csv", tiny.PERSON_HEADER, rows), "2026-08"
    )
    assert report.reasons == {"enum_invalid": 1, "id_excel_mangled": 1}
    q = lake.quarantine(report.delivery_id)
    assert q.column("id_number").to_pylist() == ["3.60722E+17", " 360722198101290006 "]
    assert q.column("_row").to_pylist() == [2, 3]
    marker = json.loads((lake.root / "_deliveries" / f"{report.delivery_id}.json").read_text("utf-8"))
    assert marker["rows"] == 1 and marker["rejected"] == 2 and marker["committed_at"].endswith("+00:00")


def test_link_fills_person_and_household_keys(tmp_path: Path, lake: Lake, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    def link(table: pa.Table) -> pa.Table:
        n = table.num_rows
        return table.append_column("person_key", pa.array(range(10, 10 + n), pa.int64())).append_column(
            "household_key", pa.array([7] * n, pa.int64())
        )

    path = tiny.write_csv(
        tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row(i) for i in _ids(2)]
    )
    _ingest(lake, catalog, path, "2026-08", link=link)
    t = lake.read("ps_person", "2026-08")
    assert t.column("person_key").to_pylist() == [10, 11] and t.column("household_key").to_pylist() == [7, 7]
    unlinked = lake.read("ps_person", "2026-08").schema
    assert unlinked.field("person_key").type == pa.int64()


def test_recover_removes_uncommitted_leftovers(tmp_path: Path, lake: Lake, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    report = _ingest(
        lake,
        catalog,
        tiny.write_csv(tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row()]),
        "2026-08",
    )
    (lake.root / "_staging" / "x-1").mkdir()
    orphan = lake.data_path("ps_person", "2026-08", "ps_person-2026-08-orphan")
    orphan.write_bytes(b"partial")
    removed = lake.recover()
    assert len(removed) == 2 and not orphan.exists()
    assert lake.data_path("ps_person", "2026-08", str(report.delivery_id)).exists()
    assert pc.sum(pc.is_valid(lake.read("ps_person", "2026-08").column("id_number"))).as_py() == 1


def test_a_newer_catalog_than_the_lakes(tmp_path: Path, lake: Lake, tiny) -> None:  # type: ignore[no-untyped-def]
    """The web app passes the catalog version it activated; the lake follows the caller's dataset spec."""
    import yaml

    from fangpin.pipeline.catalog import CATALOG_PATH, catalog_from_bytes

    raw = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    raw["datasets"]["new_thing"] = {
        "department": "water",
        "zh": "新数据",
        "cadence": "events",
        "fields": [{"name": "id_number", "zh": "身份号码", "type": "id"}],
    }
    newer = catalog_from_bytes(yaml.safe_dump(raw, allow_unicode=True).encode())
    path = tiny.write_csv(tmp_path / "new_thing.csv", ["身份号码"], [[tiny.GOOD_IDS[0]], [tiny.GOOD_IDS[0]]])
    report = ingest_file(path, "new_thing", "2026-08", lake=lake, catalog=newer, known_villages=None)
    assert (report.status, report.accepted, report.header_style) == ("accepted", 1, "zh")
    assert lake.read("new_thing", "2026-08", spec=newer["new_thing"]).num_rows == 1


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True), key=repr)


def test_the_engine_scanning_the_files_sees_what_read_returns(sim: Path, lake: Lake, catalog) -> None:  # type: ignore[no-untyped-def]
    """Lake.source hands the engine the Parquet files; every dataset, period and projection equals read()."""
    from fangpin.pipeline.engine import ParquetSource
    from fangpin.pipeline.portrait import used_columns

    for period in ("2026-08", "2026-09", "2026-10"):
        ingest_folder(sim / "deliveries" / period, period, lake=lake, catalog=catalog, known_villages=None)
    scanned = 0
    for name in catalog.datasets:
        for period in ("2026-07", "2026-08", "2026-10"):
            for columns in (None, used_columns().get(name)):
                source = lake.source(name, period, columns=columns)
                seen = lake.engine.query("SELECT * FROM src", {"src": source})
                expected = lake.read(name, period, columns=columns)
                assert seen.schema.names == expected.schema.names, name
                assert _rows(seen.cast(expected.schema)) == _rows(expected), (name, period, columns)
                scanned += isinstance(source, ParquetSource)
    assert scanned > 40  # most datasets were delivered and read from their files
    # a few households (the incremental re-score): the engine's filtered scan equals read()'s
    some = [1, 2, 57, 300, 799]
    for name in catalog.datasets:
        if "household_key" in lake.read(name, "1900-01").column_names:
            seen = lake.engine.query(
                "SELECT * FROM src", {"src": lake.source(name, "2026-10", households=some)}
            )
            expected = lake.read(name, "2026-10", households=some)
            assert _rows(seen.cast(expected.schema)) == _rows(expected), name
            assert set(seen.column("household_key").to_pylist()) <= set(some), name


def test_a_new_lake_is_readable_by_its_owner_only(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    import stat

    lake = Lake(tmp_path / "new" / "lake", catalog=catalog)  # it will hold ID numbers in clear (ADR 0023)
    assert stat.S_IMODE(lake.root.stat().st_mode) == 0o700
