"""Rows with a broken resident ID go to linkage, not to quarantine (docs/linkage.md, ADR 0027).

A row whose only problem is its ``id_number`` (wrong check character, Excel-mangled, blank, wrong
shape, impossible birth date) still carries its name, birth date, gender, household, village and the ID's
surviving digits. :func:`hand_to_linkage` moves such rows from the rejected to the accepted rows, marked
in :data:`ID_PROBLEM`; the link step links them, queues them for review, or says why it found nobody
(:data:`UNLINKED`); :func:`settle` then quarantines only those it found nobody for, with that reason.

An ID of 15 digits + ``000`` that passes the check character by chance (1 in 11 of Excel's padded IDs)
but contradicts the row's own gender or birth date is Excel-mangled too: it is marked, and so never
registers a person of its own.

Django-free; :func:`fangpin.pipeline.ingest.ingest_file` calls it when it has a link step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.idcard import PROBLEM_MESSAGES_ZH, IdProblem
from fangpin.pipeline.catalog import Dataset
from fangpin.pipeline.readers import ROW

__all__ = ["ID_FIELD", "ID_PROBLEM", "UNLINKED", "UNLINKED_ZH", "Held", "hand_to_linkage", "settle"]

ID_FIELD = "id_number"  # the column the linker links by
ID_PROBLEM = "_id_problem"  # handed to the link step: the row's ID problem (null: a valid ID)
UNLINKED = "_unlinked"  # added by the link step: why a row reached nobody (null: linked or in review)

# why linkage found nobody (fangpin.pipeline.linkage REASON_*), as the quarantine tells the clerk
UNLINKED_ZH = {
    "no_identifier": "除身份号码外没有可识别本人的信息，无法关联，请部门补正身份号码后重报",
    "no_candidate": "按姓名、出生日期、户编号等信息在户籍中找不到相符的人员",
    "low_probability": "户籍中相符的人员不足以确定本人，请部门补正身份号码后重报",
}
_PADDED = r"^[0-9]{15}000$"


@dataclass(frozen=True)
class Held:
    """``accepted`` (with :data:`ID_PROBLEM`) goes to the link step; ``held`` are the rejection rows of the
    rows moved there, quarantined again by :func:`settle` for those linkage finds nobody for."""

    accepted: pa.Table
    rejected: pa.Table
    held: pa.Table

    @property
    def sent(self) -> int:
        return int(pc.sum(pc.is_valid(self.accepted.column(ID_PROBLEM))).as_py() or 0)


Revalidate = Callable[[pa.Table, Dataset], tuple[pa.Table, pa.Table]]


def hand_to_linkage(
    raw: pa.Table, dataset: Dataset, accepted: pa.Table, rejected: pa.Table, revalidate: Revalidate
) -> Held:
    """Move the rows rejected only for their ID to the accepted rows (marked in ID_PROBLEM).

    ``raw`` is the file as read (``_row`` + text), ``revalidate(rows, lenient)`` validates rows against a
    dataset and returns (accepted, rejected). Rejected rows are re-checked with the ID read as plain text:
    a row with another problem stays rejected for its ID (its first problem)."""
    if ID_FIELD not in dataset.field_names or dataset.field(ID_FIELD).type != "id":
        return Held(
            accepted.append_column(ID_PROBLEM, pa.nulls(accepted.num_rows, pa.string())),
            rejected,
            rejected.slice(0, 0),
        )
    marked = accepted.append_column(ID_PROBLEM, _contradicting_padded(accepted, dataset))
    by_id = pc.and_(
        pc.equal(rejected.column("field"), ID_FIELD),
        pc.is_in(rejected.column("reason_code"), value_set=pa.array([p.value for p in IdProblem])),
    )
    candidates = rejected.filter(by_id)
    if not candidates.num_rows:
        return Held(marked, rejected, rejected.slice(0, 0))
    rows = raw.filter(pc.is_in(raw.column(ROW), value_set=candidates.column(ROW)))
    # the ID read as text; no duplicate check among these rows: their key (the ID) is what is broken, and
    # blank or 3.60722E+17 IDs of different persons would collide
    lenient = replace(
        dataset,
        fields=[replace(f, type="str", nullable=True) if f.name == ID_FIELD else f for f in dataset.fields],
        key_fields=(),
        cadence="snapshot",
    )
    passed, _ = revalidate(rows, lenient)
    problems = candidates.select([ROW, "reason_code"]).rename_columns([ROW, ID_PROBLEM])
    passed = passed.cast(accepted.schema).join(problems, ROW, join_type="inner")
    moved = pc.is_in(rejected.column(ROW), value_set=passed.column(ROW))
    together = pa.concat_tables([marked, passed.select(marked.column_names)]).sort_by(ROW)
    return Held(together, rejected.filter(pc.invert(moved)), rejected.filter(moved))


def _contradicting_padded(accepted: pa.Table, dataset: Dataset) -> pa.Array:
    """ID_PROBLEM for valid-looking IDs ending in 000 whose gender or birth date the row contradicts."""
    n = accepted.num_rows
    none = pa.nulls(n, pa.string())
    names = dataset.field_names
    if not n or ("gender" not in names and "birth_date" not in names):
        return none
    ids = pc.cast(accepted.column(ID_FIELD), pa.string())
    wrong = pa.array([False] * n)
    if "gender" in names:  # the 17th digit of a padded ID is 0: even, a woman ("2")
        wrong = pc.or_(
            wrong, pc.fill_null(pc.equal(pc.cast(accepted.column("gender"), pa.string()), "1"), False)
        )
    if "birth_date" in names:
        born = pc.strftime(accepted.column("birth_date"), format="%Y%m%d")
        wrong = pc.or_(wrong, pc.fill_null(pc.not_equal(pc.utf8_slice_codeunits(ids, 6, 14), born), False))
    padded = pc.fill_null(pc.match_substring_regex(ids, _PADDED), False)
    return pc.if_else(pc.and_(padded, wrong), pa.scalar(IdProblem.EXCEL_MANGLED.value), none).combine_chunks()


def settle(linked: pa.Table, held: Held) -> tuple[pa.Table, pa.Table]:
    """(accepted, rejected) after the link step: a row with an ID problem that reached nobody is
    quarantined with its ID problem and why linkage found nobody; the helper columns are dropped."""
    helpers = [c for c in (ID_PROBLEM, UNLINKED) if c in linked.column_names]
    if UNLINKED not in linked.column_names:  # a link step that does not say: nothing is quarantined again
        return linked.drop_columns(helpers), held.rejected
    gone = pc.fill_null(
        pc.and_(pc.is_valid(linked.column(ID_PROBLEM)), pc.is_valid(linked.column(UNLINKED))), False
    )
    lost = linked.filter(gone).select([ROW, ID_PROBLEM, UNLINKED])
    again = _quarantine(lost, held.held, linked.filter(gone))
    rejected = pa.concat_tables([held.rejected, again]).sort_by(ROW) if again.num_rows else held.rejected
    return linked.filter(pc.invert(gone)).drop_columns(helpers), rejected


def _quarantine(lost: pa.Table, held: pa.Table, rows: pa.Table) -> pa.Table:
    """The rejection rows of the unlinkable rows: the validator's when it had one, else (a valid-looking
    padded ID) built from the accepted row; the message says why linkage found nobody."""
    if not lost.num_rows:
        return held.slice(0, 0)
    why = dict(
        zip(
            lost.column(ROW).to_pylist(),
            zip(lost.column(ID_PROBLEM).to_pylist(), lost.column(UNLINKED).to_pylist(), strict=True),
            strict=True,
        )
    )
    kept = held.filter(pc.is_in(held.column(ROW), value_set=lost.column(ROW)))
    missing = [r for r in lost.column(ROW).to_pylist() if r not in set(kept.column(ROW).to_pylist())]
    if missing:
        kept = pa.concat_tables(
            [
                kept,
                _rejection_rows(
                    rows.filter(pc.is_in(rows.column(ROW), value_set=pa.array(missing, pa.int64()))),
                    held.schema,
                ),
            ]
        )
    messages = [_message(*why[r]) for r in kept.column(ROW).to_pylist()]
    index = kept.schema.get_field_index("message_zh")
    return kept.set_column(index, "message_zh", pa.array(messages, pa.string()))


def _message(problem: str, reason: str) -> str:
    return f"{PROBLEM_MESSAGES_ZH[IdProblem(problem)]}；{UNLINKED_ZH.get(reason, '无法确定本人')}"


def _rejection_rows(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """Rejection rows (validate.REJECTED_SCHEMA + the raw fields) for accepted rows, their ID the field."""
    n = rows.num_rows
    data: dict[str, pa.Array] = {
        ROW: rows.column(ROW).combine_chunks(),
        "field": pa.array([ID_FIELD] * n, pa.string()),
        "reason_code": rows.column(ID_PROBLEM).combine_chunks(),
        "message_zh": pa.nulls(n, pa.string()),
        "raw_value": pc.cast(rows.column(ID_FIELD), pa.string()).combine_chunks(),
    }
    for name in schema.names:
        if name not in data:
            data[name] = (
                _as_text(rows.column(name)) if name in rows.column_names else pa.nulls(n, pa.string())
            )
    return pa.table([data[name] for name in schema.names], schema=schema)


def _as_text(col: pa.ChunkedArray) -> pa.Array:
    if pa.types.is_date(col.type):
        return pc.strftime(col, format="%Y-%m-%d").combine_chunks()
    return pc.cast(col, pa.string()).combine_chunks()
