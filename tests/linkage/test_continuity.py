"""A row whose ID Excel padded to "…000" (or wrote as 3.60722E+17, or left blank) is repaired by the record
it carries when last month's delivery held that record for exactly one person (pipeline/continuity.py)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fangpin.pipeline.continuity import carried_forward, weak_id_kind

# 曾萍 really holds an ID ending in 000; 张贵祥 shares its first 15 digits, and Excel padded his to hers
ZENG_PING = "360722197306110000"
ZHANG_GUIXIANG = "360722197306110035"
LI_QIANG = "360722200008270094"


def employment(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("_row", pa.int64()),
                ("id_number", pa.string()),
                ("employer", pa.string()),
                ("start_date", pa.date32()),
                ("person_key", pa.int64()),
            ]
        ),
    )


def job(row: int, id_number: str, employer: str, person: int | None = None) -> dict[str, Any]:
    import datetime as dt

    return {
        "_row": row,
        "id_number": id_number,
        "employer": employer,
        "start_date": dt.date(2023, 6, 10),
        "person_key": person,
    }


LAST_MONTH = employment(
    [
        job(1, ZENG_PING, "赣州市制衣有限公司", person=1),
        job(2, ZHANG_GUIXIANG, "昆山市电子有限公司", person=2),
        job(3, LI_QIANG, "中山市餐饮有限公司", person=3),
    ]
)


def repaired(current: pa.Table, intact: list[tuple[int, int]]) -> dict[int, int]:
    linked = pa.table(
        {
            "_row": pa.array([r for r, _ in intact], pa.int64()),
            "person_key": pa.array([p for _, p in intact], pa.int64()),
        }
    )
    found = carried_forward(current.drop_columns(["person_key"]), linked, LAST_MONTH).links
    return dict(zip(found.column("_row").to_pylist(), found.column("person_key").to_pylist(), strict=True))


def test_a_padded_id_that_is_someone_elses_real_id_goes_to_the_person_whose_record_it_is() -> None:
    this_month = employment(
        [
            job(1, ZENG_PING, "赣州市制衣有限公司"),  # 曾萍 herself
            job(2, ZENG_PING, "昆山市电子有限公司"),  # 张贵祥's row, his ID padded by Excel
            job(3, LI_QIANG, "中山市餐饮有限公司"),
        ]
    )
    assert repaired(this_month, intact=[(3, 3)]) == {1: 1, 2: 2}


def test_a_blank_id_is_repaired_only_by_a_record_that_was_unique_and_has_not_come_back() -> None:
    this_month = employment(
        [
            job(1, ZENG_PING, "赣州市制衣有限公司"),
            job(2, "", "中山市餐饮有限公司"),  # 李强's job, his ID lost
            job(3, ZHANG_GUIXIANG, "昆山市电子有限公司"),
        ]
    )
    assert repaired(this_month, intact=[(3, 2)]) == {1: 1, 2: 3}


def test_a_record_delivered_again_under_an_intact_id_is_not_given_to_a_weak_row() -> None:
    this_month = employment(
        [
            job(1, LI_QIANG, "中山市餐饮有限公司"),
            job(2, "3.60722E+17", "中山市餐饮有限公司"),  # a second row with 李强's record: whose is it?
        ]
    )
    assert repaired(this_month, intact=[(1, 3)]) == {}


def test_records_that_several_persons_had_repair_nobody() -> None:
    shared = employment(
        [
            job(1, ZHANG_GUIXIANG, "赣州市制衣有限公司", person=2),
            job(2, LI_QIANG, "赣州市制衣有限公司", person=3),
        ]
    )
    this_month = employment([job(1, "", "赣州市制衣有限公司")])
    found = carried_forward(
        this_month.drop_columns(["person_key"]), shared.slice(0, 0).select(["_row", "person_key"]), shared
    )
    assert found.links.num_rows == 0


def test_a_changed_record_of_the_only_person_missing_this_month_is_still_theirs() -> None:
    # 张贵祥 changed employer; 曾萍 (who holds the …000 ID) had no job last month, 李强 came back intact
    last_month = LAST_MONTH.filter(pc.not_equal(LAST_MONTH.column("person_key"), 1))
    this_month = employment([job(1, ZENG_PING, "深圳市物流有限公司"), job(2, LI_QIANG, "中山市餐饮有限公司")])
    intact = pa.table({"_row": pa.array([2], pa.int64()), "person_key": pa.array([3], pa.int64())})
    found = carried_forward(this_month.drop_columns(["person_key"]), intact, last_month)
    assert found.links.to_pylist() == [{"_row": 1, "person_key": 2}]


def test_one_row_and_the_woman_who_holds_that_very_id_missing_too_is_hers() -> None:
    # both 曾萍 and 张贵祥 are missing this month and nothing in the row tells them apart: a real ID is far
    # likelier than Excel's padding of a neighbour's, and 张贵祥 may have left the department's books
    this_month = employment([job(1, ZENG_PING, "深圳市物流有限公司"), job(2, LI_QIANG, "中山市餐饮有限公司")])
    intact = pa.table({"_row": pa.array([2], pa.int64()), "person_key": pa.array([3], pa.int64())})
    found = carried_forward(this_month.drop_columns(["person_key"]), intact, LAST_MONTH)
    assert found.links.to_pylist() == [{"_row": 1, "person_key": 1}]


def test_when_several_persons_of_the_same_15_digits_are_missing_the_review_queue_decides() -> None:
    wang_wei = "360722197306110051"  # a third person born that day, same first 15 digits
    last_month = employment(
        [
            job(1, ZHANG_GUIXIANG, "昆山市电子有限公司", person=2),
            job(2, wang_wei, "赣州市电子有限公司", person=4),
        ]
    )
    this_month = employment([job(1, ZENG_PING, "深圳市物流有限公司")])  # 曾萍 had no job last month
    nobody = pa.table({"_row": pa.array([], pa.int64()), "person_key": pa.array([], pa.int64())})
    found = carried_forward(this_month.drop_columns(["person_key"]), nobody, last_month)
    assert found.links.num_rows == 0
    assert found.review.to_pylist() == [{"_row": 1, "person_key": 2}, {"_row": 1, "person_key": 4}]


def test_a_changed_record_and_nobody_missing_is_no_evidence_and_the_linker_decides() -> None:
    this_month = employment(
        [
            job(1, ZENG_PING, "深圳市物流有限公司"),  # nobody had this job last month
            job(2, ZHANG_GUIXIANG, "昆山市电子有限公司"),
            job(3, LI_QIANG, "中山市餐饮有限公司"),
        ]
    )
    last_month = LAST_MONTH.filter(pc.not_equal(LAST_MONTH.column("person_key"), 1))
    intact = pa.table({"_row": pa.array([2, 3], pa.int64()), "person_key": pa.array([2, 3], pa.int64())})
    found = carried_forward(this_month.drop_columns(["person_key"]), intact, last_month)
    assert found.links.num_rows == 0 and found.review.num_rows == 0


def test_wages_and_balances_move_and_are_not_compared() -> None:
    wage = pa.field("monthly_wage", pa.decimal128(12, 2))
    last = LAST_MONTH.append_column(wage, pa.array([3000, 3100, 3200], wage.type))
    now = employment([job(1, ZENG_PING, "昆山市电子有限公司")]).append_column(
        wage, pa.array([3350], wage.type)
    )
    empty = pa.table({"_row": pa.array([], pa.int64()), "person_key": pa.array([], pa.int64())})
    found = carried_forward(now.drop_columns(["person_key"]), empty, last)
    assert found.links.to_pylist() == [{"_row": 1, "person_key": 2}]


def test_weak_id_kinds() -> None:
    kinds = weak_id_kind(pa.array([ZENG_PING, "3.60722E+17", "", None, LI_QIANG, "36072219730611003X"]))
    assert kinds.to_pylist() == ["padded", "notation", "blank", "blank", None, None]
