"""A broken ID repaired by the record it carries: the same record was delivered last month with an intact ID.

A department's monthly snapshot repeats most of its records (the same employer, start date and wage; the
same vehicle; the same diagnosis). When Excel pads one row's ID to 15 digits + ``000`` (or writes
``3.60722E+17``, or the ID is blank), the row itself may carry nothing personal, and 15 digits are shared
by several persons of a county: one of them may even hold that ``…000`` ID for real. What still tells who
the row is: last month's delivery of the same dataset held exactly this record, linked to one person, and
that person's record has not come back this month under an intact ID (docs/linkage.md, issue 12).

:func:`carried_forward` finds, for each row with a weak ID (padded ``…000``, Excel E-notation, blank), the
persons of last month whose record equals the row's on every field but the ID, whose ID agrees with
the digits the row's ID kept, and whose record no intact row of this month repeats. Exactly one such
person: the row is that person's. None or several: the linker's own decision stands (a blank or
E-notation ID additionally needs its record to be unique in last month's whole delivery).

Django-free; the exchange's linker calls it after :func:`fangpin.pipeline.linkage.link`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from fangpin.pipeline.readers import ROW

__all__ = ["WEAK_PADDED", "Carried", "carried_forward", "weak_id_kind"]

ID = "id_number"
PERSON = "person_key"
WEAK_PADDED = "padded"  # 15 digits + 000: the first 15 survive
_WEAK_NOTATION = "notation"  # 3.60722E+17: nothing usable within a county
_WEAK_BLANK = "blank"
_KEY = "_record"  # the row's record: every compared field as text, joined
HOLDER = "_holder"


def weak_id_kind(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Per ID: ``padded``, ``notation``, ``blank`` or null (an ID that stands on its own). The IDs are
    as validation normalised them (trimmed): cheap string tests, no regular expression over 700,000 IDs."""
    text = pc.cast(ids, pa.string())
    blank = pc.fill_null(pc.equal(text, ""), True)
    padded = pc.fill_null(pc.and_(pc.ends_with(text, "000"), pc.equal(pc.utf8_length(text), 18)), False)
    notation = pc.fill_null(pc.match_substring(text, "E+", ignore_case=True), False)
    kind = pc.if_else(padded, pa.scalar(WEAK_PADDED), pa.scalar(None, pa.string()))
    kind = pc.if_else(notation, pa.scalar(_WEAK_NOTATION), kind)
    kind = pc.if_else(blank, pa.scalar(_WEAK_BLANK), kind)
    return kind.combine_chunks() if isinstance(kind, pa.ChunkedArray) else kind


def _record(table: pa.Table, fields: Sequence[str]) -> pa.Array:
    """The compared fields as one text key (null stays distinguishable from empty)."""
    if not fields:  # nothing but the ID and amounts: every record looks alike
        return pa.array([""] * table.num_rows, pa.string())
    parts = [pc.fill_null(pc.cast(table.column(f), pa.string()), "\x00") for f in fields]
    joined = pc.binary_join_element_wise(*parts, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _compared_fields(current: pa.Table, previous: pa.Table) -> list[str]:
    """Every field both months carry but the ID, the keys and amounts: a wage or a balance moves from month
    to month while the employer, the start date or the diagnosis stays."""
    skip = {ID, ROW, PERSON, "household_key"}
    return [
        f
        for f in current.column_names
        if f in previous.column_names
        and f not in skip
        and not f.startswith("_")
        and not pa.types.is_floating(current.schema.field(f).type)
        and not pa.types.is_decimal(current.schema.field(f).type)
    ]


@dataclass(frozen=True)
class Carried:
    """``links``: _row, person_key — the row is that person's. ``review``: _row, person_key — one row per
    candidate: several persons of the row's 15 digits lost their record this month, and nothing says which."""

    links: pa.Table
    review: pa.Table


def _pairs(rows: Sequence[int] = (), persons: Sequence[int] = ()) -> pa.Table:
    return pa.table({ROW: pa.array(rows, pa.int64()), PERSON: pa.array(persons, pa.int64())})


def carried_forward(current: pa.Table, linked: pa.Table, previous: pa.Table) -> Carried:
    """What last month's records say about the weak-ID rows of ``current``.

    ``current``: this month's rows (``_row``, ``id_number``, the dataset's other fields).
    ``linked``: ``_row`` + ``person_key`` of this month's rows the linker linked.
    ``previous``: last month's stored rows of the dataset (``id_number``, ``person_key``, the same fields).
    """
    none = Carried(_pairs(), _pairs())
    fields = _compared_fields(current, previous)
    kinds = weak_id_kind(current.column(ID)) if current.num_rows else pa.array([], pa.string())
    is_weak = pc.is_valid(kinds)
    weak = current.append_column("_kind", kinds).filter(is_weak)
    if not weak.num_rows or not previous.num_rows:
        return none
    is_padded = pc.equal(weak.column("_kind"), WEAK_PADDED)
    padded, other = weak.filter(is_padded), weak.filter(pc.invert(is_padded))
    # only last month's rows that could explain a weak row: 700,000 enrolment rows shrink to a few hundred
    prefixes = _prefix(previous)
    by_prefix = pc.and_(pc.is_in(prefixes, value_set=_prefix(padded)), pc.is_valid(previous.column(PERSON)))
    near = previous.append_column("_prefix", prefixes)
    near = pa.concat_tables(
        [
            near.filter(by_prefix),
            _sharing(near.filter(pc.is_valid(near.column(PERSON))), other, fields)
            if len(fields) >= 2 and other.num_rows
            else near.slice(0, 0),
        ]
    )
    near = (
        pa.table(
            {
                PERSON: near.column(PERSON).cast(pa.int64()),
                "_prefix": near.column("_prefix"),
                _KEY: _record(near, fields),
                # the person whose own ID is the padded one: a real ID that happens to end in 000
                HOLDER: pc.fill_null(pc.ends_with(pc.cast(near.column(ID), pa.string()), "000"), False),
            }
        )
        .group_by([PERSON, "_prefix", _KEY, HOLDER])
        .aggregate([])  # a row near both ways is one record
    )
    # a record that came back this month under an intact ID is not behind a weak row; a person with any
    # intact row this month is not missing from the delivery
    strong = current.filter(pc.invert(is_weak)).select([ROW])
    intact = linked.filter(pc.is_in(linked.column(PERSON), value_set=near.column(PERSON).unique()))
    intact = intact.join(strong, ROW, join_type="inner")
    again = current.filter(pc.is_in(current.column(ROW), value_set=intact.column(ROW).combine_chunks()))
    again = again.join(intact, ROW, join_type="inner")
    again = pa.table({PERSON: again.column(PERSON).cast(pa.int64()), _KEY: _record(again, fields)})
    open_records = near.join(again, [PERSON, _KEY], join_type="left anti")
    absent = near.join(again.select([PERSON]), PERSON, join_type="left anti")
    found_padded = _padded(_keyed(padded, fields), open_records, absent, bool(fields))
    found_other = _unique_matches(_keyed(other, fields), near, open_records) if len(fields) >= 2 else _pairs()
    return Carried(
        pa.concat_tables([found_padded.links, found_other]).sort_by(ROW),
        found_padded.review.sort_by([(ROW, "ascending"), (PERSON, "ascending")]),
    )


def _prefix(table: pa.Table) -> pa.Array:
    """The first 15 characters of the ID: what Excel's 15 significant digits keep."""
    first = pc.utf8_slice_codeunits(pc.cast(table.column(ID), pa.string()), 0, 15)
    return first.combine_chunks() if isinstance(first, pa.ChunkedArray) else first


def _keyed(rows: pa.Table, fields: Sequence[str]) -> pa.Table:
    return pa.table(
        {
            ROW: rows.column(ROW).cast(pa.int64()),
            "_prefix": _prefix(rows),
            _KEY: _record(rows, fields),
        }
    )


def _sharing(prev: pa.Table, rows: pa.Table, fields: Sequence[str]) -> pa.Table:
    """Last month's rows that agree with at least one of ``rows`` on each field (a superset of those
    whose whole record equals one of them, cheap to find field by field)."""
    for name in fields:
        if not prev.num_rows:
            break
        wanted = pc.unique(rows.column(name)).cast(prev.schema.field(name).type)
        prev = prev.filter(pc.is_in(prev.column(name), value_set=wanted, skip_nulls=False))
    return prev


def _one_person(matches: pa.Table) -> pa.Table:
    """Rows matched by exactly one distinct person."""
    if not matches.num_rows:
        return _pairs()
    distinct = (
        matches.group_by([ROW, PERSON])
        .aggregate([])
        .group_by(ROW)
        .aggregate([(PERSON, "min"), (PERSON, "count")])
    )
    one = distinct.filter(pc.equal(distinct.column(f"{PERSON}_count"), 1))
    return pa.table({ROW: one.column(ROW), PERSON: one.column(f"{PERSON}_min")})


def _padded(rows: pa.Table, open_records: pa.Table, absent: pa.Table, by_content: bool) -> Carried:
    """15 digits + 000. First by content: the open record of one person whose ID starts with the row's 15
    digits. Then by presence, per 15 digits, among the persons with a record last month and no intact row
    this month: one row left and one such person, or one row and the person who holds that very ID (a
    real ID is far likelier than Excel's padding of a neighbour's): that person; else, with several such
    persons, the review queue decides between them."""
    content = (
        _one_person(
            rows.select([ROW, "_prefix", _KEY]).join(
                open_records.select([PERSON, "_prefix", _KEY]), ["_prefix", _KEY], join_type="inner"
            )
        )
        if by_content
        else _pairs()
    )
    left = rows.filter(pc.invert(pc.is_in(rows.column(ROW), value_set=content.column(ROW)))).select(
        [ROW, "_prefix"]
    )
    persons = _still_open(absent, content)
    counts = left.group_by("_prefix").aggregate([(ROW, "count")])
    owners = persons.group_by("_prefix").aggregate([(PERSON, "count")])
    both = counts.join(owners, "_prefix", join_type="inner")
    one_row = pc.equal(both.column(f"{ROW}_count"), 1)
    only = both.filter(pc.and_(one_row, pc.equal(both.column(f"{PERSON}_count"), 1))).select(["_prefix"])
    holders = persons.filter(persons.column(HOLDER)).select(["_prefix", PERSON])
    held = both.filter(one_row).select(["_prefix"]).join(holders, "_prefix", join_type="inner")
    decided = pa.concat_tables(
        [
            only.join(persons.select(["_prefix", PERSON]), "_prefix"),
            held.join(only, "_prefix", join_type="left anti"),
        ]
    )
    by_presence = left.join(decided, "_prefix", join_type="inner")
    several = both.filter(pc.greater(both.column(f"{PERSON}_count"), 1)).select(["_prefix"])
    several = several.join(decided.select(["_prefix"]), "_prefix", join_type="left anti")
    review = left.join(several, "_prefix", join_type="inner").join(
        persons.select(["_prefix", PERSON]), "_prefix"
    )
    links = pa.concat_tables([content, by_presence.select([ROW, PERSON])])
    return Carried(links, review.select([ROW, PERSON]))


def _still_open(absent: pa.Table, taken: pa.Table) -> pa.Table:
    """(person_key, _prefix, holder) of the persons missing from this month that no row was given to."""
    persons = absent.select([PERSON, "_prefix", HOLDER]).group_by([PERSON, "_prefix", HOLDER]).aggregate([])
    return persons.filter(pc.invert(pc.is_in(persons.column(PERSON), value_set=taken.column(PERSON))))


def _unique_matches(rows: pa.Table, prev: pa.Table, open_records: pa.Table) -> pa.Table:
    """E-notation and blank IDs keep no digit: the record must be one person's in last month's delivery
    (``prev`` holds every row with the record, see _sharing), unique among this month's weak rows, and
    still open."""
    if not rows.num_rows:
        return _pairs()
    seen = prev.group_by(_KEY).aggregate([(PERSON, "count")])
    once = seen.filter(pc.equal(seen.column(f"{PERSON}_count"), 1)).select([_KEY])
    mine = rows.group_by(_KEY).aggregate([(ROW, "count")])
    mine_once = mine.filter(pc.equal(mine.column(f"{ROW}_count"), 1)).select([_KEY])
    candidates = (
        rows.select([ROW, _KEY]).join(once, _KEY, join_type="inner").join(mine_once, _KEY, join_type="inner")
    )
    return _one_person(candidates.join(open_records.select([PERSON, _KEY]), _KEY, join_type="inner"))
