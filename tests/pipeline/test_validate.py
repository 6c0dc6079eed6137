"""Row validation in SQL: one test per reason code, ID checks equal to fangpin.lib.idcard, simulator defects."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fangpin.lib import idcard
from fangpin.pipeline.dialect import Dialect, SparkDialect
from fangpin.pipeline.engine import cte_sql
from fangpin.pipeline.readers import read_file
from fangpin.pipeline.validate import REASONS_ZH, Validated, plain_ids, validate, validation_steps
from fangpin.synth import DefectRates, SynthConfig, generate

TODAY = dt.date(2026, 12, 31)


def _table(columns: dict[str, list[str | None]]) -> pa.Table:
    n = len(next(iter(columns.values())))
    data = {k: pa.array(v, pa.string()) for k, v in columns.items()}
    data["_row"] = pa.array(range(1, n + 1), pa.int64())
    return pa.table(data)


def _run(catalog, engine, dataset: str, rows: list[dict[str, str | None]], villages=None) -> Validated:  # type: ignore[no-untyped-def]
    ds = catalog[dataset]
    cols = {f.name: [r.get(f.name) for r in rows] for f in ds.fields}
    return validate(_table(cols), ds, known_villages=villages, engine=engine, today=TODAY)


def _vehicle(**kw: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "id_number": "360722197111180017",
        "vehicle_type": "car",
        "register_date": "2020-05-01",
        "price_yuan": "85000.00",
    }
    row.update(kw)
    return row


def _only_reason(v: Validated) -> tuple[str, str, str | None]:
    assert v.rejected.num_rows == 1, v.rejected.to_pylist()
    r = v.rejected.to_pylist()[0]
    assert (
        r["message_zh"].endswith(REASONS_ZH[r["reason_code"]])
        or REASONS_ZH[r["reason_code"]] in r["message_zh"]
    )
    return r["reason_code"], r["field"], r["raw_value"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "id_missing"),
        ("3.60722E+17", "id_excel_mangled"),
        ("360722197111180000", "id_excel_mangled"),
        ("36072219711118001", "id_shape"),
        ("36072219711118001A", "id_shape"),
        ("360722197102300017", "id_birth_date"),
        ("360722197111180018", "id_check_char"),
    ],
)
def test_each_id_problem(catalog, engine, raw: str, code: str) -> None:  # type: ignore[no-untyped-def]
    v = _run(catalog, engine, "ps_vehicle", [_vehicle(id_number=raw)])
    assert _only_reason(v) == (code, "id_number", raw or "")


def _fuzz_ids(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        born = dt.date(1890, 1, 1) + dt.timedelta(days=rng.randrange(0, 140 * 365))
        good = idcard.make("360722", born, rng.randrange(0, 500), rng.random() < 0.5)
        kind = rng.randrange(10)
        if kind == 1:
            good = good[:17] + rng.choice("0123456789X")
        elif kind == 2:
            good = good[:15] + "000"
        elif kind == 3:
            good = good[:10] + f"{rng.randrange(0, 15):02d}{rng.randrange(0, 35):02d}" + good[14:]
        elif kind == 4:
            good = good[: rng.randrange(0, 19)]
        elif kind == 5:
            good = "'" + good.lower()
        elif kind == 6:
            good = f"  {good} "
        elif kind == 7:
            good = rng.choice(["3.60722E+17", "3.6E+17", "4E+17", "3.60722e+17", "abc", "36072219711118001x"])
        out.append(good)
    return out


def test_sql_id_checks_equal_the_python_reference(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    ids = _fuzz_ids(7, 4000)
    v = _run(catalog, engine, "ps_vehicle", [_vehicle(id_number=i) for i in ids])
    sql_codes: dict[int, str | None] = dict.fromkeys(range(1, len(ids) + 1))
    for r in v.rejected.to_pylist():
        sql_codes[r["_row"]] = r["reason_code"]
    python_codes = {
        i + 1: (p.value if (p := idcard.problem(raw, TODAY)) else None) for i, raw in enumerate(ids)
    }
    assert sql_codes == python_codes
    # normalised IDs in the accepted rows: trimmed, apostrophe dropped, upper-case X
    accepted = v.accepted.column("id_number").to_pylist()
    assert all(idcard.problem(i, TODAY) is None and i == idcard.normalize(i) for i in accepted)


def test_required_missing(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    v = _run(catalog, engine, "ps_vehicle", [_vehicle(register_date=" ")])
    assert _only_reason(v) == ("required_missing", "register_date", " ")
    assert v.rejected.column("message_zh").to_pylist() == ["注册日期：必填字段为空"]


def test_nullable_may_be_empty(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    v = _run(catalog, engine, "ps_vehicle", [_vehicle(price_yuan="")])
    assert v.rejected.num_rows == 0 and v.accepted.column("price_yuan").to_pylist() == [None]


def test_enum_invalid(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    v = _run(catalog, engine, "ps_vehicle", [_vehicle(vehicle_type="bus")])
    assert _only_reason(v) == ("enum_invalid", "vehicle_type", "bus")
    assert "可选：car=小型汽车" in v.rejected.column("message_zh")[0].as_py()


@pytest.mark.parametrize("raw", ["2020-02-30", "2020/05/01", "2020-5-1", "20200501", "昨天"])
def test_date_invalid(catalog, engine, raw: str) -> None:  # type: ignore[no-untyped-def]
    assert (
        _only_reason(_run(catalog, engine, "ps_vehicle", [_vehicle(register_date=raw)]))[0] == "date_invalid"
    )


@pytest.mark.parametrize("raw", ["12,000", "1e5", "abc", "¥100", "1.2.3"])
def test_number_invalid(catalog, engine, raw: str) -> None:  # type: ignore[no-untyped-def]
    v = _run(catalog, engine, "ps_vehicle", [_vehicle(price_yuan=raw)])
    assert _only_reason(v) == ("number_invalid", "price_yuan", raw)


def test_int_and_float_number_invalid(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    water = {"village_code": "360722100003", "supply": "centralized", "outage_days": "2.5", "quality_ok": "1"}
    v = _run(
        catalog,
        engine,
        "wr_water",
        [{**water, "guarantee_rate": "0.9"}, {**water, "outage_days": "3", "guarantee_rate": "x"}],
    )
    assert [(r["reason_code"], r["field"]) for r in v.rejected.to_pylist()] == [
        ("number_invalid", "outage_days"),
        ("number_invalid", "guarantee_rate"),
    ]


def test_bool_values_and_bool_invalid(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    base = {"year": "2026", "subsidized": "false"}
    values = ("true", "TRUE", "1", "是", "false", "0", "否", "yes")
    rows = [
        {**base, "insured": v, "id_number": idcard.make("360722", dt.date(1980, 1, 1), i, True)}
        for i, v in enumerate(values)
    ]
    v = _run(catalog, engine, "ms_enrollment", rows)
    assert v.accepted.column("insured").to_pylist() == [True, True, True, True, False, False, False]
    assert [(r["reason_code"], r["raw_value"]) for r in v.rejected.to_pylist()] == [("bool_invalid", "yes")]


def test_out_of_range(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    row = {"id_number": "360722197111180017", "kind": "visual", "grade": "5", "issue_date": "2020-01-01"}
    v = _run(
        catalog, engine, "df_disability", [row, {**row, "id_number": "360722198101290006", "grade": "4"}]
    )
    assert _only_reason(v) == ("out_of_range", "grade", "5")
    assert v.rejected.column("message_zh")[0].as_py() == "残疾等级：数值超出允许范围（1～4）"
    water = {
        "village_code": "360722100003",
        "supply": "centralized",
        "outage_days": "0",
        "quality_ok": "true",
    }
    v = _run(catalog, engine, "wr_water", [{**water, "guarantee_rate": "1.5"}])
    assert _only_reason(v)[0] == "out_of_range"


def test_region_unknown(catalog, engine, tiny) -> None:  # type: ignore[no-untyped-def]
    rows = [dict(zip(tiny.PERSON_HEADER, tiny.person_row(), strict=True))]
    rows.append(
        dict(
            zip(
                tiny.PERSON_HEADER,
                tiny.person_row(tiny.GOOD_IDS[1], village_code="360722999999"),
                strict=True,
            )
        )
    )
    v = _run(catalog, engine, "ps_person", rows, villages={"360722100003"})
    assert _only_reason(v) == ("region_unknown", "village_code", "360722999999")
    # an Arrow array works as well, and None skips the check
    assert (
        _run(catalog, engine, "ps_person", rows, villages=pa.array(["360722100003"])).rejected.num_rows == 1
    )
    assert _run(catalog, engine, "ps_person", rows, villages=None).rejected.num_rows == 0


def test_duplicate_in_file_keeps_the_first_valid_row(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    row = {
        "household_no": "3607221000030001",
        "year": "2025",
        "members": "3",
        "wage_income": "1.00",
        "business_income": "0",
        "business_cost": "0",
        "property_income": "0",
        "transfer_income": "0",
    }
    rows = [
        {**row, "members": "x"},  # invalid first copy: does not hide the valid one
        {**row, "members": "4"},
        {**row, "members": "5"},  # same key again
        {**row, "year": "2024"},  # other key
    ]
    v = _run(catalog, engine, "ag_income", rows)
    assert [(r["_row"], r["reason_code"], r["field"]) for r in v.rejected.to_pylist()] == [
        (1, "number_invalid", "members"),
        (3, "duplicate_in_file", "household_no"),
    ]
    assert v.accepted.column("members").to_pylist() == [4, 3]


def test_events_without_a_key_dedupe_on_the_whole_row(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    row = {"id_number": "360722197111180017", "year": "2026", "kind": "助学金", "amount_yuan": "1000"}
    v = _run(
        catalog, engine, "ed_aid", [row, {**row, "amount_yuan": "1000.00"}, {**row, "amount_yuan": "500"}]
    )
    assert [(r["_row"], r["reason_code"]) for r in v.rejected.to_pylist()] == [(2, "duplicate_in_file")]


def test_first_problem_in_field_order_and_raw_row_kept(catalog, engine) -> None:  # type: ignore[no-untyped-def]
    v = _run(
        catalog, engine, "ps_vehicle", [_vehicle(id_number="3.60722E+17", vehicle_type="bus", price_yuan="x")]
    )
    r = v.rejected.to_pylist()[0]
    assert (r["reason_code"], r["field"], r["raw_value"]) == ("id_excel_mangled", "id_number", "3.60722E+17")
    assert r["vehicle_type"] == "bus" and r["price_yuan"] == "x" and r["id_number"] == "3.60722E+17"


def test_accepted_rows_are_typed(catalog, engine, tiny) -> None:  # type: ignore[no-untyped-def]
    v = _run(catalog, engine, "ps_vehicle", [_vehicle(price_yuan="85000.456")])
    assert v.accepted.schema.field("register_date").type == pa.date32()
    assert v.accepted.schema.field("price_yuan").type == pa.decimal128(18, 2)
    assert v.accepted.column("register_date").to_pylist() == [dt.date(2020, 5, 1)]
    assert str(v.accepted.column("price_yuan")[0].as_py()) == "85000.46"


def test_spark_dialect_generates_portable_sql(catalog) -> None:  # type: ignore[no-untyped-def]
    ds = catalog["ps_person"]
    sql = cte_sql(validation_steps(ds, SparkDialect(), birth_limit=TODAY, check_region=True))
    assert (
        "RLIKE" in sql
        and "try_to_timestamp" in sql
        and "regexp_full_match" not in sql
        and "`id_number`" in sql
    )
    duck = cte_sql(validation_steps(ds, Dialect.from_string("duckdb"), birth_limit=TODAY, check_region=False))
    assert "regexp_full_match" in duck and "RLIKE" not in duck
    with pytest.raises(NotImplementedError):
        Dialect.from_string("oracle")


def _rejections(sim: Path, catalog, engine) -> tuple[dict[tuple[str, str, int], str], int]:  # type: ignore[no-untyped-def]
    got: dict[tuple[str, str, int], str] = {}
    total = 0
    for folder in sorted((sim / "deliveries").iterdir()):
        for path in sorted(folder.glob("[!_]*")):
            read = read_file(path, catalog[path.stem])
            v = validate(read.table, catalog[path.stem], known_villages=None, engine=engine, today=TODAY)
            total += read.table.num_rows
            for r in v.rejected.select(["_row", "reason_code"]).to_pylist():
                got[(folder.name, path.stem, r["_row"] - 1)] = r["reason_code"]
    return got, total


def test_every_simulated_defect_is_caught_with_its_reason(sim: Path, catalog, engine) -> None:  # type: ignore[no-untyped-def]
    got, _ = _rejections(sim, catalog, engine)
    defects = pq.read_table(sim / "truth" / "defects.parquet").to_pylist()
    id_kinds = {p.value for p in idcard.IdProblem}
    # the police snapshot's own broken IDs are wrong check characters too
    id_defects = [d for d in defects if d["kind"] in id_kinds or d["kind"] == "police_id_broken"]
    assert {d["kind"] for d in id_defects} >= {"id_check_char", "id_excel_mangled", "id_missing"}
    expected: dict[tuple[str, str, int], str] = {}
    for d in id_defects:
        ref = idcard.problem(d["injected"], TODAY)
        if ref is None:  # Excel's padding that fits the check character looks valid: linkage tells (ADR 0027)
            assert d["kind"] == "id_excel_mangled" and d["injected"].endswith("000")
            continue
        # a wrong check character that happens to turn …00c into …000 reads as Excel's padding, also in idcard
        kind = "id_check_char" if d["kind"] == "police_id_broken" else d["kind"]
        assert ref.value == kind or (kind == "id_check_char" and d["injected"].endswith("000"))
        expected[(d["period"], d["dataset"], d["row"])] = ref.value
    assert {k: got.get(k) for k in expected} == expected
    # the only other rejections are re-delivered events inside their own first delivery file
    dup_rows = {(d["period"], d["dataset"], d["row"]) for d in defects if d["kind"] == "duplicate_event"}
    others = {k: v for k, v in got.items() if k not in expected}
    assert others and all(v == "duplicate_in_file" and k in dup_rows for k, v in others.items())
    # a typo in a name is no validation error (linkage deals with it)
    typos = {(d["period"], d["dataset"], d["row"]) for d in defects if d["kind"] == "name_typo"}
    assert typos and not typos & (set(got) - set(expected))


def test_clean_simulation_has_no_rejections(tmp_path: Path, catalog, engine) -> None:  # type: ignore[no-untyped-def]
    generate(
        SynthConfig(households=150, months=2, start="2026-08", seed=4, defects=DefectRates.none()),
        tmp_path,
        progress=False,
    )
    got, total = _rejections(tmp_path, catalog, engine)
    assert total > 2000 and got == {}


def test_plain_ids_vouch_only_for_ids_without_problems() -> None:
    ids = [idcard.normalize(i) for i in _fuzz_ids(11, 6000)]
    ids += ["360722190002290017", "360722200002290010", "360722202402290016", "360722197104310011"]
    ids += [idcard.make("360722", dt.date(2000, 2, 29), 1, False), idcard.make("360722", TODAY, 2, True)]
    ids += [idcard.make("360722", TODAY + dt.timedelta(days=1), 3, False), "060722197111180017"]
    for column in (pa.chunked_array([pa.array(ids + [None])]), pa.chunked_array([pa.array(ids[:5])])):
        plain = plain_ids(column, TODAY).to_pylist()
        values = column.to_pylist()
        for raw, ok in zip(values, plain, strict=True):
            expected = raw is not None and idcard.problem(raw, TODAY) is None
            # a valid ID with a leading 0 is left to the SQL checks: vouching is only ever a shortcut
            assert ok == (expected and not raw.startswith("0")), raw
