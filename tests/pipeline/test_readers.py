"""Reading delivery files: encodings, header styles, formats and whole-file rejections."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from fangpin.pipeline.readers import DeliveryRejected, read_file


def _manifest(sim: Path, period: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sim / "deliveries" / period / "_manifest.json").read_text("utf-8"))
    return data


def test_csv_utf8_all_strings_with_row_numbers(sim: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    path = sim / "deliveries" / "2026-08" / "ps_person.csv"
    result = read_file(path, catalog["ps_person"])
    assert result.encoding == "utf-8" and result.header_style == "canonical" and result.format == "csv"
    t = result.table
    assert t.column_names == [*catalog["ps_person"].field_names, "_row"]
    assert all(t.schema.field(n).type == pa.string() for n in catalog["ps_person"].field_names)
    assert t.column("_row").to_pylist()[:3] == [1, 2, 3]
    assert t.num_rows == _manifest(sim, "2026-08")["datasets"]["ps_person"]["rows"]


def test_gbk_csv_is_detected(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    path = tiny.write_csv(
        tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row(name="曾倩倩")], "gbk"
    )
    result = read_file(path, catalog["ps_person"])
    assert result.encoding == "gb18030"
    assert result.table.column("name").to_pylist() == ["曾倩倩"]


def test_gbk_chinese_headers(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    ds = catalog["ps_person"]
    header = [ds.field(n).zh for n in tiny.PERSON_HEADER]
    path = tiny.write_csv(tmp_path / "ps_person.csv", header, [tiny.person_row()], "gbk")
    result = read_file(path, ds)
    assert (result.encoding, result.header_style) == ("gb18030", "zh")
    assert result.table.column("id_number").to_pylist() == [tiny.GOOD_IDS[0]]


def test_simulated_gbk_file(sim: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    for period in ("2026-08", "2026-09", "2026-10"):
        for name, info in _manifest(sim, period)["datasets"].items():
            if info["encoding"] == "gbk":
                result = read_file(sim / "deliveries" / period / info["file"], catalog[name])
                # a GBK file without Chinese characters is plain ASCII, which is valid UTF-8 too
                assert result.encoding in ("gb18030", "utf-8")
                assert result.table.num_rows == info["rows"]


def test_bom_csv(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    path = tiny.write_csv(tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row()], "utf-8-sig")
    result = read_file(path, catalog["ps_person"])
    assert result.encoding == "utf-8-sig"
    assert result.table.column("id_number").to_pylist() == [tiny.GOOD_IDS[0]]


def test_neither_utf8_nor_gbk_is_rejected(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    path = tiny.write_csv(tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row()], "utf-16")
    with pytest.raises(DeliveryRejected) as info:
        read_file(path, catalog["ps_person"])
    assert info.value.code == "encoding" and "编码" in info.value.message_zh


def test_simulated_chinese_header_file(sim: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    found = 0
    for period in ("2026-08", "2026-09", "2026-10"):
        for name, info in _manifest(sim, period)["datasets"].items():
            result = read_file(sim / "deliveries" / period / info["file"], catalog[name])
            assert result.header_style == ("zh" if info["header"] == "zh" else "canonical")
            assert result.table.column_names[:-1] == catalog[name].field_names
            found += info["header"] == "zh"
    assert found >= 1


def test_missing_column_rejects_the_whole_file(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    header = [h for h in tiny.PERSON_HEADER if h != "birth_date"]
    row = [v for h, v in zip(tiny.PERSON_HEADER, tiny.person_row(), strict=True) if h != "birth_date"]
    path = tiny.write_csv(tmp_path / "ps_person.csv", header, [row])
    with pytest.raises(DeliveryRejected) as info:
        read_file(path, catalog["ps_person"])
    assert info.value.code == "schema"
    assert info.value.message_zh == "缺少字段：出生日期(birth_date)"


def test_optional_missing_and_extra_columns_are_reported(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    header = [h for h in tiny.PERSON_HEADER if h != "status_date"] + ["备注"]
    row = [v for h, v in zip(tiny.PERSON_HEADER, tiny.person_row(), strict=True) if h != "status_date"] + [
        "x"
    ]
    result = read_file(tiny.write_csv(tmp_path / "ps_person.csv", header, [row]), catalog["ps_person"])
    assert result.extra_columns == ("备注",)
    assert result.missing_optional == ("status_date",)
    assert result.table.column("status_date").to_pylist() == [None]


def test_duplicate_headers_are_rejected(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    header = [*tiny.PERSON_HEADER[:-1], "公民身份号码"]
    path = tiny.write_csv(tmp_path / "ps_person.csv", header, [tiny.person_row()])
    with pytest.raises(DeliveryRejected) as info:
        read_file(path, catalog["ps_person"])
    assert info.value.code == "schema" and "表头重复" in info.value.message_zh


def test_ragged_csv_is_malformed(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ps_person.csv"
    path.write_text(",".join(tiny.PERSON_HEADER) + "\n1,2\n", encoding="utf-8")
    with pytest.raises(DeliveryRejected) as info:
        read_file(path, catalog["ps_person"])
    assert info.value.code == "malformed"


def test_empty_file(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ps_person.csv"
    path.write_bytes(b"")
    with pytest.raises(DeliveryRejected) as info:
        read_file(path, catalog["ps_person"])
    assert info.value.code == "schema"


def test_simulated_xlsx(sim: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    result = read_file(sim / "deliveries" / "2026-08" / "wr_water.xlsx", catalog["wr_water"])
    assert result.format == "xlsx" and result.table.num_rows > 0
    row = result.table.slice(0, 1).to_pylist()[0]
    assert row["quality_ok"] in ("true", "false") and len(row["village_code"]) == 12


def test_xlsx_dates_numbers_and_mangled_ids(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    wb = Workbook()
    ws = wb.active
    ws.append(["借据号", "借款人身份号码", "贷款金额", "到期日", "状态"])
    ws.append(["DK1", "360722197111180017", 30000, dt.datetime(2027, 12, 27), "normal"])
    ws.append(["DK2", 360722198101290006, 1234.5, 46000, "overdue"])  # ID typed as a number; date as a serial
    ws.append([None, None, None, None, None])  # an empty line Excel users leave behind
    ws.append(["DK3", 3.60722e17, True, "2027-01-01", "repaid"])
    path = tmp_path / "fi_microcredit.xlsx"
    wb.save(path)
    result = read_file(path, catalog["fi_microcredit"])
    rows = result.table.to_pylist()
    assert result.header_style == "zh"
    assert [r["_row"] for r in rows] == [1, 2, 4]
    assert rows[0]["due_date"] == "2027-12-27" and rows[0]["amount_yuan"] == "30000"
    # a number cell holds a double: Excel's 15 significant digits, the defect the validator names
    assert rows[1]["id_number"] == "360722198101290000" and rows[1]["due_date"] == "2025-12-09"
    assert rows[1]["amount_yuan"] == "1234.5"
    assert rows[2]["id_number"] == "360722000000000000" and rows[2]["amount_yuan"] == "true"


def test_simulated_parquet(sim: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    result = read_file(sim / "deliveries" / "2026-08" / "fi_deposit.parquet", catalog["fi_deposit"])
    assert result.format == "parquet" and result.table.schema.field("balance_yuan").type == pa.string()


def test_parquet_typed_values_become_faithful_text(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    table = pa.table(
        {
            "id_number": pa.array([360722197111180017, None], pa.int64()),
            "year": pa.array([2025, 2026], pa.int32()),
            "insured": pa.array([True, False]),
            "subsidized": pa.array([False, None]),
            "ignored": pa.array([dt.date(2025, 1, 2), dt.date(2025, 3, 4)]),
        }
    )
    path = tmp_path / "ms_enrollment.parquet"
    pq.write_table(table, path)
    result = read_file(path, catalog["ms_enrollment"])
    assert result.table.drop(["_row"]).to_pylist() == [
        {"id_number": "360722197111180017", "year": "2025", "insured": "true", "subsidized": "false"},
        {"id_number": None, "year": "2026", "insured": "false", "subsidized": None},
    ]
    assert result.extra_columns == ("ignored",)


def test_parquet_dates_and_float_money(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    table = pa.table(
        {
            "loan_id": ["DK1"],
            "id_number": ["360722197111180017"],
            "amount_yuan": pa.array([1234.5]),
            "due_date": pa.array([dt.date(2027, 12, 27)]),
            "status": ["normal"],
        }
    )
    path = tmp_path / "fi_microcredit.parquet"
    pq.write_table(table, path)
    row = read_file(path, catalog["fi_microcredit"]).table.to_pylist()[0]
    assert row["amount_yuan"] == "1234.5" and row["due_date"] == "2027-12-27"


def test_unknown_format(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ps_person.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(DeliveryRejected) as info:
        read_file(path, catalog["ps_person"])
    assert info.value.code == "format"
