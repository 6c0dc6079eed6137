"""The police snapshot against the registry, set-based (`actions.apply_police_snapshot` is the action).

A county's snapshot is ~728,000 persons: the rows meet the registry as Arrow tables, the registry is
read in chunks of keys (or whole, when the snapshot is most of it) and written with one COPY on
PostgreSQL or one executemany on SQLite, never one model instance or query per row. Every lookup
respects the database's limit on query parameters (SQLite's "too many SQL variables").
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.db import connection
from django.db.models import F, Model, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from fangpin.lib import idcard
from fangpin.pipeline.readers import ROW
from fangpin.pipeline.validate import plain_ids
from fangpin.regions.models import Level, Region
from fangpin.registry.models import Household, Membership, MembershipChange, Person, PersonStatus, Relation
from fangpin.web.fields import EncryptedTextField, stored_columns

SQLITE_CACHE_KIB = 256 * 1024
SNAPSHOT_SCHEMA: dict[str, pa.DataType] = {
    "id_number": pa.string(),
    "name": pa.string(),
    "gender": pa.string(),
    "birth_date": pa.date32(),
    "household_no": pa.string(),
    "relation": pa.string(),
    "village_code": pa.string(),
    "status": pa.string(),
    "status_date": pa.date32(),
}
# what the registry refuses of rows the exchange accepted: (field, Chinese reason) per reason code
REFUSALS: dict[str, tuple[str, str]] = {
    "registry_id": ("id_number", "身份号码无效，户籍库不予登记"),
    "registry_birth_date": ("birth_date", "出生日期与身份号码不一致"),
    "registry_gender": ("gender", "性别与身份号码不一致"),
    "registry_relation": ("relation", "与户主关系代码不在户籍库代码表内"),
    "registry_status_date": ("status_date", "状态变动日期晚于本期快照截止日"),
    "registry_village": ("village_code", "新户所在村不在已加载的行政区划内，无法建户"),
}
REFUSED_SCHEMA = pa.schema(
    [
        pa.field(ROW, pa.int64()),
        pa.field("field", pa.string()),
        pa.field("reason_code", pa.string()),
        pa.field("message_zh", pa.string()),
    ]
)


@dataclass(frozen=True)
class SnapshotResult:
    counts: dict[str, int]
    refused: pa.Table  # REFUSED_SCHEMA, one row per refused snapshot row


def refusal(rows: pa.Table, code: str) -> pa.Table:
    field, message = REFUSALS[code]
    n = rows.num_rows
    return pa.table(
        [rows.column(ROW), pa.repeat(field, n), pa.repeat(code, n), pa.repeat(message, n)],
        schema=REFUSED_SCHEMA,
    )


def refusals(table: pa.Table, *, as_of: dt.date, born_by: dt.date) -> pa.Table:
    """The rows the registry cannot take on their own, each with its first reason (REFUSALS order)."""
    ids = table.column("id_number")
    bad_id = _bad_ids(ids, born_by)
    # rows with a bad ID get a placeholder, so that the digit arithmetic below never meets one
    safe = pc.if_else(bad_id, pa.scalar("110101190001010010"), ids)
    born = table.column("birth_date")
    ymd = pc.add(pc.add(pc.multiply(pc.year(born), 10000), pc.multiply(pc.month(born), 100)), pc.day(born))
    id_ymd = pc.cast(pc.utf8_slice_codeunits(safe, 6, 14), pa.int64())
    sex_digit = pc.cast(pc.utf8_slice_codeunits(safe, 16, 17), pa.int64())
    id_gender = pc.if_else(pc.equal(pc.bit_wise_and(sex_digit, 1), 1), "1", "2")
    checks = [
        ("registry_id", bad_id),
        ("registry_birth_date", pc.not_equal(pc.cast(ymd, pa.int64()), id_ymd)),
        ("registry_gender", pc.not_equal(table.column("gender"), id_gender)),
        ("registry_relation", pc.invert(pc.is_in(table.column("relation"), pa.array(Relation.values)))),
        ("registry_status_date", pc.greater(table.column("status_date"), pa.scalar(as_of, pa.date32()))),
    ]
    reason = pa.nulls(table.num_rows, pa.string())
    for code, failed in reversed(checks):  # the first failing check wins
        reason = pc.if_else(pc.fill_null(failed, False), code, reason)  # NULL: nothing to compare
    refused = pc.is_valid(reason)
    if not pc.any(refused).as_py():
        return REFUSED_SCHEMA.empty_table()
    codes = reason.filter(refused)
    parts = [
        refusal(table.filter(refused).filter(pc.equal(codes, c)), c) for c in pc.unique(codes).to_pylist()
    ]
    return pa.concat_tables(parts)


def _bad_ids(ids: pa.ChunkedArray, born_by: dt.date) -> pa.Array:
    """True for an ID with a problem (fangpin.lib.idcard); the exchange validated them, so the doubtful
    ones (`plain_ids` False) are few and checked one by one."""
    plain = plain_ids(ids, born_by).to_numpy(zero_copy_only=False)
    bad = np.zeros(len(ids), bool)
    doubtful = np.flatnonzero(~plain)
    values = ids.take(pa.array(doubtful, pa.int64())).to_pylist()
    bad[doubtful] = [v is None or idcard.problem(v, born_by) is not None for v in values]
    return pa.array(bad)


# --- reading the registry in chunks ---------------------------------------------------------------


def _chunk_size() -> int:
    limit = connection.features.max_query_params
    return limit - 99 if limit else 10_000


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    size = _chunk_size()
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _lookup(
    model: type[Model], key: str, wanted: pa.Array, columns: tuple[str, ...], **where: Any
) -> pa.Table:
    """`columns` of the rows of `model` whose `key` is one of `wanted`: by chunks of keys, or the whole
    table in one read when the keys are at least half of it (a county's snapshot is its registry)."""
    keys = pc.unique(wanted.drop_null()) if len(wanted) else pa.array([], wanted.type)
    rows = model.objects.filter(**where)  # type: ignore[attr-defined]
    found: list[tuple[Any, ...]] = []
    if len(keys):
        total = rows.count()
        if 2 * len(keys) >= total:
            found = list(rows.values_list(*columns).iterator(chunk_size=20_000))
        else:
            for chunk in _chunks(keys.to_pylist()):
                found += rows.filter(**{f"{key}__in": chunk}).values_list(*columns)
    data: list[Sequence[Any]] = list(zip(*found, strict=True)) if found else [[] for _ in columns]
    table = pa.table(
        {c: pa.array(v) if v else pa.array([], pa.null()) for c, v in zip(columns, data, strict=True)}
    )
    if len(keys) and table.num_rows:
        table = table.filter(pc.is_in(table.column(key), value_set=keys))
    return table


def existing_households(rows: pa.Table) -> pa.Table:
    found = _lookup(
        Household, "household_no", rows.column("household_no").combine_chunks(), ("household_no", "id")
    )
    return pa.table(
        {
            "household_no": found.column("household_no").cast(pa.string()),
            "household_key": found.column("id").cast(pa.int64()),
        }
    )


def with_new_households(households: pa.Table, new: pa.Table) -> pa.Table:
    """`households` (existing_households) plus the just inserted `new` ones, read by their numbers."""
    if not new.num_rows:
        return households
    return pa.concat_tables([households, existing_households(new)])


def existing_persons(rows: pa.Table) -> pa.Table:
    return _persons(rows.column("id_number").combine_chunks())


def with_new_persons(persons: pa.Table, rows: pa.Table) -> pa.Table:
    """`persons` (existing_persons of `rows`) plus the persons of `rows` registered since, read by ID."""
    wanted = pc.unique(rows.column("id_number").combine_chunks().drop_null())
    unread = wanted.filter(pc.invert(pc.is_in(wanted, value_set=persons.column("id_number"))))
    if not len(unread):
        return persons
    return pa.concat_tables([persons, _persons(unread)])


def _persons(id_numbers: pa.Array) -> pa.Table:
    found = _lookup(Person, "id_number", id_numbers, ("id_number", "id", "status"))
    return pa.table(
        {
            "id_number": found.column("id_number").cast(pa.string()),
            "person_key": found.column("id").cast(pa.int64()),
            "stored_status": found.column("status").cast(pa.string()),
        }
    )


def _open_memberships(person_keys: pa.Array) -> pa.Table:
    found = _lookup(
        Membership,
        "person_id",
        person_keys,
        ("person_id", "id", "household_id", "start_date"),
        end_date__isnull=True,
    )
    return pa.table(
        {
            "person_key": found.column("person_id").cast(pa.int64()),
            "membership_key": found.column("id").cast(pa.int64()),
            "current_household": found.column("household_id").cast(pa.int64()),
            "start_date": found.column("start_date").cast(pa.date32()),
        }
    )


# --- writing ----------------------------------------------------------------------------------------


def _insert(model: type[Model], table: pa.Table) -> int:
    """INSERT the rows of `table` (columns named as the model's fields) in one set-based statement:
    COPY … CSV on PostgreSQL, executemany on SQLite (no per-row Python, no parameter limit)."""
    if not table.num_rows:
        return 0
    table = _encrypted(model, table)
    meta = model._meta
    columns = [str(meta.get_field(name).column) for name in table.column_names]  # type: ignore[union-attr]
    text = pa.table(
        {c: pc.cast(table.column(n), pa.string()) for c, n in zip(columns, table.column_names, strict=True)}
    )
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            buffer = io.BytesIO()
            # strings quoted ("" is an empty string), NULL as an unquoted empty field
            pacsv.write_csv(text, buffer, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
            with cursor.cursor.copy(f"COPY {meta.db_table} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
        else:
            marks = ", ".join(["%s"] * len(columns))
            # the indexes of a county's registry outgrow SQLite's default 2 MB page cache: each insert
            # then reads its index pages from disk again (a bigger cache for this connection only)
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            cursor.executemany(
                f"INSERT INTO {meta.db_table} ({names}) VALUES ({marks})",  # noqa: S608 - model identifiers
                # sqlite3 takes any iterable of rows: no list of 728,000 tuples
                zip(*(text.column(c).to_pylist() for c in columns), strict=True),  # type: ignore[arg-type]
            )
    return int(table.num_rows)


def _encrypted(model: type[Model], table: pa.Table) -> pa.Table:
    """The table with each encrypted field encrypted and its blind indexes added (CRY-02): the raw
    INSERT bypasses the fields' own save()."""
    names = [n for n in table.column_names if isinstance(model._meta.get_field(n), EncryptedTextField)]
    if not names:
        return table
    stored = stored_columns(model, {n: table.column(n).to_pylist() for n in names})
    for name, values in stored.items():
        array = pa.array(values, pa.string())
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, array)
        else:
            table = table.append_column(name, array)
    return table


def _update(model: type[Model], keys: pa.Array, **values: Any) -> None:
    for chunk in _chunks(keys.to_pylist()):
        model.objects.filter(pk__in=chunk).update(**values)  # type: ignore[attr-defined]


def _first_per(table: pa.Table, key: str) -> pa.Table:
    """The first row of each value of `key`."""
    column = table.column(key).combine_chunks()
    return table.take(pc.index_in(pc.unique(column), value_set=column))


def new_households(rows: pa.Table, households: pa.Table, types: dict[str, str]) -> pa.Table:
    """One household per unknown household number, in the village of its first row whose village is
    loaded (rows of a new household in no loaded village are refused later)."""
    villages = pa.array(
        Region.objects.filter(level=Level.VILLAGE).values_list("prefix", flat=True), pa.string()
    )
    unknown = pc.invert(pc.is_in(rows.column("household_no"), value_set=households.column("household_no")))
    placed = pc.and_(unknown, pc.is_in(rows.column("village_code"), value_set=villages))
    new = _first_per(rows.filter(placed), "household_no")
    numbers = new.column("household_no").combine_chunks()
    kind = pa.repeat("ordinary", new.num_rows)
    if types:
        given = pa.array(list(types.values()), pa.string()).take(
            pc.index_in(numbers, value_set=pa.array(list(types), pa.string()))
        )
        kind = pc.coalesce(given, kind)
    n = new.num_rows
    return pa.table(
        {
            "household_no": numbers,
            "household_type": kind,
            "village": new.column("village_code"),
            "created_at": pa.repeat(connection.ops.adapt_datetimefield_value(timezone.now()), n),
            "version": pa.repeat(1, n),
        }
    )


def insert_households(new: pa.Table) -> int:
    return _insert(Household, new)


def insert_persons(rows: pa.Table, persons: pa.Table, as_of: dt.date) -> tuple[int, int]:
    """The persons not yet registered, with their snapshot status; (created, created with a status other
    than normal: a status change counted as the old per-row loop did)."""
    new = _first_per(
        rows.filter(pc.invert(pc.is_in(rows.column("id_number"), value_set=persons.column("id_number")))),
        "id_number",
    )
    n = new.num_rows
    normal = pc.equal(new.column("status"), PersonStatus.NORMAL)
    status_date = pc.if_else(
        normal,
        pa.scalar(None, pa.date32()),
        pc.coalesce(new.column("status_date"), pa.scalar(as_of, pa.date32())),
    )
    created = _insert(
        Person,
        pa.table(
            {
                "id_number": new.column("id_number"),
                "name": new.column("name"),
                "gender": new.column("gender"),
                "birth_date": new.column("birth_date"),
                "labour_capacity": pa.repeat("", n),
                "status": new.column("status"),
                "status_date": status_date,
                "version": pa.repeat(1, n),
            }
        ),
    )
    return created, n - pc.sum(normal).as_py() if n else 0


def with_registry(rows: pa.Table, persons: pa.Table, households: pa.Table) -> pa.Table:
    """The rows with their person, household and the person's open membership (if any)."""
    state = rows.join(persons, "id_number", join_type="inner").join(
        households, "household_no", join_type="inner"
    )
    memberships = _open_memberships(state.column("person_key").combine_chunks())
    return state.join(memberships, "person_key", join_type="left outer")


def apply_status(state: pa.Table, as_of: dt.date) -> int:
    """Deaths and moves out: the person's status and date, the open membership ends (never before it
    started). Grouped by (status, date): a few UPDATEs of many rows."""
    changed = state.filter(
        pc.and_(
            pc.not_equal(state.column("status"), PersonStatus.NORMAL),
            pc.not_equal(state.column("status"), state.column("stored_status")),
        )
    )
    if not changed.num_rows:
        return 0
    day = pc.coalesce(changed.column("status_date"), pa.scalar(as_of, pa.date32()))
    changed = changed.append_column("day", day)
    for group in changed.group_by(["status", "day"]).aggregate([]).to_pylist():
        these = changed.filter(
            pc.and_(
                pc.equal(changed.column("status"), group["status"]),
                pc.equal(changed.column("day"), group["day"]),
            )
        )
        _update(Person, these.column("person_key"), status=group["status"], status_date=group["day"])
        ending = these.column("membership_key").drop_null()
        _update(
            Membership,
            ending,
            end_date=Greatest(Value(group["day"]), F("start_date")),
            end_reason=group["status"],
        )
    return int(changed.num_rows)


def apply_moves(state: pa.Table, as_of: dt.date) -> int:
    """Persons of normal status not in their snapshot household: the open membership elsewhere ends at
    the snapshot's date (a move or split), a new one starts there. Returns the number of moves."""
    normal = state.filter(pc.equal(state.column("status"), PersonStatus.NORMAL))
    stays = pc.fill_null(pc.equal(normal.column("current_household"), normal.column("household_key")), False)
    joining = normal.filter(pc.invert(stays))
    moving = joining.column("membership_key").drop_null()
    _update(
        Membership,
        moving,
        end_date=Greatest(Value(as_of), F("start_date")),
        end_reason=MembershipChange.MOVED_OUT,
    )
    n = joining.num_rows
    reason = pc.if_else(
        pc.is_valid(joining.column("membership_key")), MembershipChange.MOVED_IN, MembershipChange.REGISTERED
    )
    _insert(
        Membership,
        pa.table(
            {
                "person": joining.column("person_key"),
                "household": joining.column("household_key"),
                "relation": joining.column("relation"),
                "start_date": pa.repeat(pa.scalar(as_of, pa.date32()), n),
                "start_reason": reason,
                "end_reason": pa.repeat("", n),
            }
        ),
    )
    return len(moving)
