"""Linking department rows to the registry: exact IDs, broken IDs, no IDs, homophones, twins, strangers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from fangpin.lib import idcard
from fangpin.pipeline.linkage import (
    REASON_LOW_PROBABILITY,
    REASON_NO_CANDIDATE,
    REASON_NO_IDENTIFIER,
    LinkModel,
    LinkResult,
    LinkSettings,
    link,
)
from fangpin.pipeline.linkage_eval import evaluate_on_febrl, evaluate_on_synth

ALL_FIELDS = ["id_number", "name", "gender", "birth_date", "household_no", "village_code"]
HOMOPHONES = {"华": "化", "明": "名", "军": "君", "英": "瑛", "兰": "岚", "芳": "方", "丽": "莉", "伟": "玮"}


def _records(rows: list[dict[str, Any]]) -> pa.Table:
    cols = {f: pa.array([r.get(f) for r in rows], pa.string()) for f in ALL_FIELDS}
    return pa.table({"_row": pa.array(range(len(rows)), pa.int64()), **cols})


def _people(registry: pa.Table, where: str, limit: int = 1) -> list[dict[str, Any]]:
    """Registry persons unique on (name, birth_date) matching a SQL condition."""
    con = duckdb.connect()
    con.register("reg", registry)
    rows = (
        con.sql(
            "SELECT * FROM reg WHERE (name, birth_date) IN "
            "(SELECT (name, birth_date) FROM reg GROUP BY ALL HAVING count(*) = 1) "
            f"AND {where} ORDER BY person_key LIMIT {limit}"  # noqa: S608 - test constants
        )
        .to_arrow_table()
        .to_pylist()
    )
    con.close()
    return rows


def _fields(person: dict[str, Any], **override: Any) -> dict[str, Any]:
    out = {
        "id_number": person["id_number"],
        "name": person["name"],
        "gender": person["gender"],
        "birth_date": person["birth_date"].isoformat(),
        "household_no": person["household_no"],
        "village_code": person["village_code"],
    }
    out.update(override)
    return out


def _one_link(result: LinkResult, row: int = 0) -> dict[str, Any]:
    links = [r for r in result.links.to_pylist() if r["_row"] == row]
    assert len(links) == 1, (result.links.to_pylist(), result.review.to_pylist(), result.unlinked.to_pylist())
    return links[0]


def _run(
    records: pa.Table, registry: pa.Table, model: LinkModel, fields: list[str] | None = None
) -> LinkResult:
    result = link(records, registry, dataset_fields=fields or ALL_FIELDS, settings=LinkSettings(model=model))
    seen = (
        result.links.column("_row").to_pylist()
        + sorted(set(result.review.column("_row").to_pylist()))
        + result.unlinked.column("_row").to_pylist()
    )
    assert sorted(seen) == list(range(records.num_rows)), "every row in exactly one outcome"
    return result


def test_exact_id_links_deterministically(registry: pa.Table, model: LinkModel) -> None:
    person = _people(registry, "true")[0]
    result = _run(_records([{"id_number": person["id_number"]}]), registry, model, ["id_number"])
    got = _one_link(result)
    assert (got["person_key"], got["method"], got["probability"]) == (person["person_key"], "exact_id", 1.0)
    assert got["household_key"] == person["household_key"]


def test_check_char_error_links_on_the_first_17_digits(registry: pa.Table, model: LinkModel) -> None:
    person = _people(registry, "true")[0]
    right = person["id_number"]
    wrong = idcard.with_wrong_check_char(right)
    assert idcard.problem(wrong) is idcard.IdProblem.CHECK_CHAR
    got = _one_link(_run(_records([{"id_number": wrong}]), registry, model, ["id_number"]))
    assert (got["person_key"], got["method"]) == (person["person_key"], "probabilistic")
    assert got["probability"] >= 0.99


def test_excel_trailing_000_links_with_other_fields(registry: pa.Table, model: LinkModel) -> None:
    candidates = _people(registry, "right(id_number, 3) <> '000'", limit=50)
    person = next(
        p for p in candidates if idcard.problem(p["id_number"][:15] + "000") is idcard.IdProblem.EXCEL_MANGLED
    )
    record = _fields(person, id_number=person["id_number"][:15] + "000")
    got = _one_link(_run(_records([record]), registry, model))
    assert got["person_key"] == person["person_key"]


def test_missing_id_links_on_name_birth_date_and_village(registry: pa.Table, model: LinkModel) -> None:
    person = _people(registry, "true", limit=20)[7]
    record = _fields(person, id_number="", household_no=None)
    got = _one_link(_run(_records([record]), registry, model))
    assert (got["person_key"], got["method"]) == (person["person_key"], "probabilistic")


def test_homophone_name_typo_links_through_pinyin(registry: pa.Table, model: LinkModel) -> None:
    chars = " OR ".join(f"contains(name, '{c}')" for c in HOMOPHONES)
    person = _people(registry, f"({chars})")[0]
    typo = "".join(HOMOPHONES.get(c, c) for c in person["name"])
    assert typo != person["name"]
    record = _fields(person, id_number=None, name=typo, household_no=None)
    result = _run(_records([record]), registry, model)
    assert _one_link(result)["person_key"] == person["person_key"]


def test_twins_without_id_go_to_review_not_to_a_guess(registry: pa.Table, model: LinkModel) -> None:
    person = _people(registry, "true", limit=30)[11]
    born = person["birth_date"]
    twin_id = idcard.make(person["id_number"][:6], born, 450, person["gender"] == "1")
    twin = {
        **{k: [v] for k, v in person.items()},
        "person_key": [10_000_000],
        "id_number": [twin_id],
    }
    with_twin = pa.concat_tables([registry, pa.table(twin, schema=registry.schema)])
    record = _fields(person, id_number=None)
    result = _run(_records([record]), with_twin, model)
    assert result.links.num_rows == 0
    review = result.review.to_pylist()
    assert {r["person_key"] for r in review} == {person["person_key"], 10_000_000}
    assert all(0.3 < r["probability"] < 0.7 for r in review)
    assert all("name:exact" in r["features"] for r in review)


def test_unknown_people_stay_unlinked_with_a_reason(registry: pa.Table, model: LinkModel) -> None:
    person = _people(registry, "true")[0]
    stranger = idcard.make("360722", dt.date(1931, 2, 3), 499, True)  # valid, nobody in the registry
    records = _records(
        [
            {"id_number": stranger},
            {"id_number": ""},
            {"id_number": "3.60722E+17"},
            {
                "id_number": None,
                "name": "欧阳某某",
                "birth_date": "1931-02-03",
                "village_code": "360722999999",
            },
            {"id_number": person["id_number"]},
        ]
    )
    result = _run(records, registry, model)
    reasons = {r["_row"]: r["reason"] for r in result.unlinked.to_pylist()}
    assert reasons[0] in (REASON_NO_CANDIDATE, REASON_LOW_PROBABILITY)
    assert reasons[1] == REASON_NO_IDENTIFIER
    assert reasons[2] == REASON_NO_IDENTIFIER
    assert reasons[3] in (REASON_NO_CANDIDATE, REASON_LOW_PROBABILITY)
    assert _one_link(result, 4)["method"] == "exact_id"


def test_model_round_trips_through_json(tmp_path: Path, registry: pa.Table, model: LinkModel) -> None:
    path = tmp_path / "model.json"
    model.save(path)
    again = LinkModel.load(path)
    assert again.settings == model.settings
    person = _people(registry, "true")[0]
    wrong = idcard.with_wrong_check_char(person["id_number"])
    got = _one_link(_run(_records([{"id_number": wrong}]), registry, again, ["id_number"]))
    assert got["person_key"] == person["person_key"]


def test_precision_and_recall_on_the_simulator(synth_dir: Path, model: LinkModel) -> None:
    metrics = evaluate_on_synth(synth_dir, model=model)
    assert metrics.extra["n_defective"] > 300
    assert metrics.extra["not_as_recorded"] == 0
    assert metrics.precision >= 0.999, metrics
    assert metrics.recall >= 0.99, metrics
    # ID-only rows whose ID is blank or 3.60722E+17 are not linkable by anyone: reported, never linked
    for kind in ("missing/id_only", "excel_sci/id_only"):
        if kind in metrics.by_defect_kind:
            assert metrics.by_defect_kind[kind]["linkable"] == 0
            assert metrics.by_defect_kind[kind]["linked"] == 0


@pytest.mark.slow
def test_febrl1_f1() -> None:
    metrics = evaluate_on_febrl("febrl1")
    assert metrics.f1 >= 0.9, metrics


def test_a_namesake_with_his_own_valid_id_is_never_linked(registry: pa.Table, model: LinkModel) -> None:
    """Someone outside the registry with a registry person's name, birth date, gender and household, but
    his own valid ID: as alike as can be, and still someone else (issue 12: 63 such wrong links at 1M)."""
    person = _people(registry, "gender = '1'")[0]
    known = set(registry.column("id_number").to_pylist())
    own = next(
        i
        for s in range(1, 500)
        if (i := idcard.make(person["id_number"][:6], person["birth_date"], s, male=True)) not in known
    )
    result = _run(_records([_fields(person, id_number=own)]), registry, model)
    assert result.links.num_rows == 0


def test_a_padded_id_that_is_another_persons_real_id_does_not_link_to_him(
    registry: pa.Table, model: LinkModel
) -> None:
    """Excel's 15 digits + 000 can be another person's real ID: the row's name, gender and birth date say
    it is not him, so the row is linked by what it carries instead of by the ID (exact step)."""
    person = next(
        p
        for p in _people(registry, "gender = '1' AND household_no IS NOT NULL", 200)
        if idcard.problem(p["id_number"][:15] + "000") is None
    )
    padded = person["id_number"][:15] + "000"
    holder = {
        **person,
        "person_key": max(registry.column("person_key").to_pylist()) + 1,
        "id_number": padded,  # a woman born the same day in the same area, elsewhere in the county
        "name": "甘霖",
        "gender": "2",
        "household_key": -1,
        "household_no": "360722999999000001",
        "village_code": "360722999999",
    }
    with_holder = pa.concat_tables([registry, pa.Table.from_pylist([holder], schema=registry.schema)])
    result = _run(_records([_fields(person, id_number=padded)]), with_holder, model)
    assert _one_link(result)["person_key"] == person["person_key"]
    # an ID-only row with that ID is the holder's, as anyone would read it
    only_id = _run(_records([{"id_number": padded}]), with_holder, model, ["id_number"])
    assert _one_link(only_id)["person_key"] == holder["person_key"]
