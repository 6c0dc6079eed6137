"""The catalog's bounds as a province would set them (ADR 0028): no negative money, self-pay within the
total, dates within 1900 (or a field's floor) and the delivered period, no control characters, no endless
text; Chinese labels of codes accepted and counted as normalised, not rejected."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from fangpin.pipeline.catalog import DEFAULT_RANGE, Catalog
from fangpin.pipeline.engine import DuckDBEngine
from fangpin.pipeline.validate import REASONS_ZH, Validated, validate

PERIOD_END = dt.date(2026, 11, 30)
ID = "360722197111180017"


def _settlement(**kw: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "settlement_id": "YB1",
        "id_number": ID,
        "settle_date": "2026-11-03",
        "visit_type": "inpatient",
        "total_cost": "1000.00",
        "basic_paid": "600.00",
        "critical_paid": "0",
        "assistance_paid": "100",
        "self_pay": "300",
    }
    row.update(kw)
    return row


def _run(
    catalog: Catalog, engine: DuckDBEngine, dataset: str, rows: list[dict[str, str | None]]
) -> Validated:
    ds = catalog[dataset]
    data = {f.name: pa.array([r.get(f.name) for r in rows], pa.string()) for f in ds.fields}
    data["_row"] = pa.array(range(1, len(rows) + 1), pa.int64())
    return validate(
        pa.table(data), ds, known_villages=None, engine=engine, today=PERIOD_END, period_end=PERIOD_END
    )


def _reasons(v: Validated) -> list[tuple[str, str, str]]:
    return [(r["field"], r["reason_code"], r["message_zh"]) for r in v.rejected.to_pylist()]


def test_negative_costs_and_self_pay_above_the_total_are_rejected(
    catalog: Catalog, engine: DuckDBEngine
) -> None:
    v = _run(
        catalog,
        engine,
        "ms_settlement",
        [
            _settlement(total_cost="-100", self_pay="-150"),
            _settlement(settlement_id="YB2", self_pay="1000.01"),
            _settlement(settlement_id="YB3", self_pay="1000.00"),
        ],
    )
    assert _reasons(v) == [
        ("total_cost", "out_of_range", "医疗总费用：数值超出允许范围（0～10000000）"),
        ("self_pay", "exceeds_field", "个人自付：超过同一行的关联字段（不应大于医疗总费用）"),
    ]
    assert v.accepted.column("settlement_id").to_pylist() == ["YB3"]  # self-pay equal to the total is fine


def test_chinese_labels_of_codes_are_stored_as_codes_and_counted(
    catalog: Catalog, engine: DuckDBEngine
) -> None:
    v = _run(
        catalog,
        engine,
        "ms_settlement",
        [
            _settlement(visit_type="住院"),
            _settlement(settlement_id="YB2", visit_type=" 门诊慢特病 "),
            _settlement(settlement_id="YB3", visit_type="outpatient_chronic"),
            _settlement(settlement_id="YB4", visit_type="住院", total_cost="-1"),  # rejected: not counted
            _settlement(settlement_id="YB5", visit_type="急诊"),
        ],
    )
    assert v.accepted.column("visit_type").to_pylist() == [
        "inpatient",
        "outpatient_chronic",
        "outpatient_chronic",
    ]
    assert v.normalized == {"visit_type": 2}
    assert [r[1] for r in _reasons(v)] == ["out_of_range", "enum_invalid"]


@pytest.mark.parametrize("day", ["1800-01-01", "9999-12-31", "2026-12-01", "2002-12-31"])
def test_dates_outside_their_range_are_rejected(catalog: Catalog, engine: DuckDBEngine, day: str) -> None:
    v = _run(catalog, engine, "ms_settlement", [_settlement(settle_date=day)])
    # settle_date: not before 2003 (the province's medical insurance records), not after the period
    assert _reasons(v) == [
        ("settle_date", "date_out_of_range", "结算日期：日期超出允许范围（2003-01-01～2026-11-30）")
    ]


def test_a_future_term_end_is_a_date_ahead_within_limits(catalog: Catalog, engine: DuckDBEngine) -> None:
    rows = [
        {
            "loan_id": "DK1",
            "id_number": ID,
            "amount_yuan": "50000",
            "due_date": "2029-06-30",
            "status": "normal",
        },
        {
            "loan_id": "DK2",
            "id_number": ID,
            "amount_yuan": "50000",
            "due_date": "9999-12-31",
            "status": "normal",
        },
        {
            "loan_id": "DK3",
            "id_number": ID,
            "amount_yuan": "5000000",
            "due_date": "2029-06-30",
            "status": "逾期",
        },
    ]
    v = _run(catalog, engine, "fi_microcredit", rows)
    assert v.accepted.column("loan_id").to_pylist() == ["DK1"]
    assert [(r[0], r[1]) for r in _reasons(v)] == [
        ("due_date", "date_out_of_range"),
        ("amount_yuan", "out_of_range"),
    ]
    assert "2036-11-30" in _reasons(v)[0][2]  # ten years after the period


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id_number", "36072219711118\x000017"),
        ("id_number", "\u202e710081111791227063"),
        ("settlement_id", "YB\x1b[31m1"),
        ("settlement_id", "YB1\u200f"),
        ("visit_type", "住\x85院"),  # (at either end it would be trimmed as white space)
    ],
)
def test_control_characters_are_refused_in_every_text_field(
    catalog: Catalog, engine: DuckDBEngine, field: str, value: str
) -> None:
    v = _run(
        catalog, engine, "ms_settlement", [_settlement(**{field: value}), _settlement(settlement_id="YB9")]
    )
    assert [(r[0], r[1]) for r in _reasons(v)] == [(field, "control_char")]
    assert REASONS_ZH["control_char"] in _reasons(v)[0][2]
    assert v.rejected.column("raw_value").to_pylist() == [value]  # the quarantine keeps it as given
    assert v.accepted.num_rows == 1


def test_text_longer_than_its_field_is_refused(catalog: Catalog, engine: DuckDBEngine) -> None:
    huge = "理" * 100_000
    v = _run(
        catalog,
        engine,
        "self_declaration",
        [
            {
                "declaration_id": "SB1",
                "id_number": ID,
                "declared_date": "2026-11-02",
                "reason": huge,
                "channel": "app",
            },
            {
                "declaration_id": "SB2",
                "id_number": ID,
                "declared_date": "2026-11-02",
                "reason": "因病",
                "channel": "手机APP",
            },
            {
                "declaration_id": "S" * 65,
                "id_number": ID,
                "declared_date": "2026-11-02",
                "reason": "x",
                "channel": "app",
            },
        ],
    )
    assert [(r[0], r[1], r[2]) for r in _reasons(v)] == [
        ("reason", "too_long", "申报原因：文本超过最大长度（最多500个字）"),
        ("declaration_id", "too_long", "申报编号：文本超过最大长度（最多64个字）"),
    ]
    assert v.accepted.column("channel").to_pylist() == ["app"]


def test_every_number_has_a_range_and_every_text_a_length(catalog: Catalog) -> None:
    for ds in catalog.datasets.values():
        for f in ds.fields:
            if f.type in ("money", "int", "float"):
                assert f.range is not None and f.range[0] >= 0, (ds.name, f.name)
            if f.type == "str":
                assert f.max_length, (ds.name, f.name)
    assert catalog["ca_disability_subsidy"].field("monthly_yuan").range != DEFAULT_RANGE
