"""The point-in-time Parquet lake: every accepted delivery kept as delivered, readable as of any period.

Layout (ADR 0007):
    root/<dataset>/period=YYYY-MM/<delivery_id>.parquet   accepted rows (typed) + person_key, household_key
    root/_quarantine/<delivery_id>.parquet                rejected rows with the raw values as given
    root/_deliveries/<delivery_id>.json                   commit marker, written last by atomic rename
    root/_staging/<delivery_id>/                          work in progress; never read
A delivery exists if and only if its marker exists: readers look at markers only, so a crash at any
point leaves either the whole delivery or nothing visible. Commits are serialised by an flock on
root/.lock (the events dedupe must see every earlier commit); recover() takes the same lock, so it
never removes the staging directory of a commit in progress.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fangpin.lib.periods import check_period
from fangpin.pipeline.catalog import Catalog, Dataset, load_catalog
from fangpin.pipeline.engine import DuckDBEngine, Engine, ParquetSource, Source
from fangpin.pipeline.readers import ROW
from fangpin.pipeline.validate import accepted_schema

LINK_COLUMNS = ("person_key", "household_key")
META_COLUMNS = ("_period", "_delivery_id")
PAUSE_ENV = "FANGPIN_LAKE_PAUSE_BEFORE_MARKER"  # test hook: seconds to sleep before the commit marker
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")


class LakeError(RuntimeError):
    pass


@dataclass(frozen=True)
class DeliveryRecord:
    """The content of a commit marker."""

    delivery_id: str
    dataset: str
    period: str
    content_hash: str
    rows: int
    duplicates: int
    rejected: int
    committed_at: str  # UTC ISO 8601
    seq: int  # commit order in this lake (1, 2, …): "latest" means highest seq

    @property
    def committed(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.committed_at)


@dataclass(frozen=True)
class CommitResult:
    delivery_id: str
    rows: int
    duplicates: int
    existing: str | None = None  # set when the same (dataset, period, hash) was committed meanwhile


class Lake:
    def __init__(self, root: Path, *, catalog: Catalog | None = None, engine: Engine | None = None) -> None:
        self.root = Path(root)
        self.catalog = catalog or load_catalog()
        self._engine = engine
        self._markers: dict[str, DeliveryRecord] = {}
        if not self.root.exists():  # it holds ID numbers in clear: the service account only (ADR 0023)
            self.root.mkdir(parents=True, mode=0o700)
        for sub in ("_deliveries", "_staging", "_quarantine"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = DuckDBEngine()
        return self._engine

    # --- identity and the commit log -------------------------------------------------------------------

    @staticmethod
    def new_delivery_id(dataset: str, period: str) -> str:
        """Sortable by time, unique without coordination: <dataset>-<period>-<UTC µs>-<random>."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return f"{dataset}-{check_period(period)}-{stamp}-{secrets.token_hex(3)}"

    def deliveries(self, dataset: str | None = None) -> list[DeliveryRecord]:
        """Committed deliveries in commit order (only those with a marker)."""
        folder = self.root / "_deliveries"
        names = {p.name for p in folder.glob("*.json")}
        for name in names - self._markers.keys():
            data = json.loads((folder / name).read_text(encoding="utf-8"))
            known = DeliveryRecord.__dataclass_fields__
            # markers written by a newer version may carry more keys: read what this version knows
            self._markers[name] = DeliveryRecord(**{k: v for k, v in data.items() if k in known})
        for gone in self._markers.keys() - names:
            del self._markers[gone]
        records = sorted(self._markers.values(), key=lambda r: r.seq)
        return [r for r in records if dataset is None or r.dataset == dataset]

    def find(self, dataset: str, period: str, content_hash: str) -> str | None:
        """The delivery id that already holds this exact file for (dataset, period), if any."""
        for r in self.deliveries(dataset):
            if r.period == period and r.content_hash == content_hash:
                return r.delivery_id
        return None

    def data_path(self, dataset: str, period: str, delivery_id: str) -> Path:
        return self.root / dataset / f"period={period}" / f"{delivery_id}.parquet"

    def quarantine(self, delivery_id: str) -> pa.Table:
        return pq.read_table(self.root / "_quarantine" / f"{delivery_id}.parquet")

    # --- writing ---------------------------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.root / ".lock").open("a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released by the kernel if the process dies
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def recover(self) -> list[str]:
        """Remove what an interrupted commit left behind; returns the removed paths (for the log)."""
        removed: list[str] = []
        with self._lock():
            committed = {r.delivery_id for r in self.deliveries()}
            for leftover in sorted((self.root / "_staging").iterdir()):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
                removed.append(str(leftover))
            # data moved into place just before a crash, whose marker never came
            candidates = list(self.root.glob("*/period=*/*.parquet")) + list(
                (self.root / "_quarantine").glob("*.parquet")
            )
            for path in candidates:
                if path.stem not in committed:
                    path.unlink()
                    removed.append(str(path))
        return removed

    def commit(
        self,
        delivery_id: str,
        dataset: str,
        period: str,
        content_hash: str,
        accepted: pa.Table,
        rejected: pa.Table,
        *,
        spec: Dataset | None = None,
    ) -> CommitResult:
        """Store one validated delivery atomically. Events already in the lake are dropped (counted).

        `spec` is the dataset's catalog entry when the caller uses another catalog version than the lake's.
        """
        if not _ID.match(delivery_id):
            raise LakeError(f"unsafe delivery id {delivery_id!r}")
        check_period(period)
        ds = spec or self.catalog[dataset]
        table = self._conform(ds, accepted)
        with self._lock():
            existing = self.find(dataset, period, content_hash)
            if existing is not None:
                return CommitResult(existing, 0, 0, existing=existing)
            if delivery_id in {r.delivery_id for r in self.deliveries()}:
                raise LakeError(f"delivery {delivery_id} is already committed")
            duplicates = 0
            if ds.cadence == "events" and table.num_rows:
                kept = self._drop_known_events(ds, table)
                duplicates = table.num_rows - kept.num_rows
                table = kept
            staging = self.root / "_staging" / delivery_id
            staging.mkdir(parents=True)
            # dictionary-encode only where values repeat (codes, names, dates, amounts); IDs and keys would
            # waste the attempt, and their min/max statistics cost a comparison per value, pruning nothing
            repeating = [f.name for f in ds.fields if f.type != "id" and f.type != "float" and not f.key]
            unique = {f.name for f in ds.fields if f.type == "id" or (f.type == "str" and f.key)}
            stats = [c for c in table.column_names if c not in unique]
            # clustered by household: row-group statistics on household_key then let a read for a few
            # households (the incremental re-score) skip all but one row group per file
            table = _cluster_by_household(table)
            _write_parquet(
                table,
                staging / "data.parquet",
                dictionary=repeating,
                statistics=stats,
                row_group_size=ROW_GROUP_ROWS,
            )
            _write_parquet(rejected, staging / "quarantine.parquet")
            seq = max((r.seq for r in self.deliveries()), default=0) + 1
            record = DeliveryRecord(
                delivery_id=delivery_id,
                dataset=dataset,
                period=period,
                content_hash=content_hash,
                rows=table.num_rows,
                duplicates=duplicates,
                rejected=rejected.num_rows,
                committed_at=dt.datetime.now(dt.UTC).isoformat(),
                seq=seq,
            )
            marker = staging / "delivery.json"
            _write_durably(marker, json.dumps(asdict(record), ensure_ascii=False, indent=1).encode())
            target = self.data_path(dataset, period, delivery_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / "data.parquet", target)
            os.replace(staging / "quarantine.parquet", self.root / "_quarantine" / f"{delivery_id}.parquet")
            _fsync_dir(target.parent)
            _fsync_dir(self.root / "_quarantine")
            pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
            if pause:
                time.sleep(pause)
            # the commit point: before this rename nothing of the delivery is visible, after it all is
            os.replace(marker, self.root / "_deliveries" / f"{delivery_id}.json")
            _fsync_dir(self.root / "_deliveries")
            shutil.rmtree(staging)
        return CommitResult(delivery_id, table.num_rows, duplicates)

    def _conform(self, ds: Dataset, accepted: pa.Table) -> pa.Table:
        """Catalog columns (typed), _row, then the linkage keys (nullable int64, filled by the caller)."""
        schema = accepted_schema(ds)
        cols = [accepted.column(f.name).cast(f.type) for f in schema]
        names = [f.name for f in schema]
        for key in LINK_COLUMNS:
            if key in accepted.column_names:
                cols.append(accepted.column(key).cast(pa.int64()))
            else:
                cols.append(pa.nulls(accepted.num_rows, pa.int64()))
            names.append(key)
        return pa.Table.from_arrays(cols, names=names)

    def _drop_known_events(self, ds: Dataset, table: pa.Table) -> pa.Table:
        """`table` without the events whose identity an earlier delivery of the dataset holds.

        Reads only the identity columns of the earlier files; the engine sees only the identities and
        `_row` of the new rows and returns the (usually few) known ones, which are then filtered out.
        """
        keys = list(ds.identity_fields)
        files = [self.data_path(ds.name, r.period, r.delivery_id) for r in self.deliveries(ds.name)]
        if not files:
            return table
        old = pa.concat_tables(
            [pq.read_table(f, columns=keys) for f in files], promote_options="permissive"
        ).cast(table.select(keys).schema)
        q = self.engine.dialect.quote
        match = " AND ".join(f"o.{q(k)} IS NOT DISTINCT FROM n.{q(k)}" for k in keys)
        sql = f"SELECT n.{q(ROW)} FROM __fp_new n WHERE EXISTS (SELECT 1 FROM __fp_old o WHERE {match})"  # noqa: S608 - quoted catalog identifiers
        new = table.select([ROW, *keys])
        known = self.engine.query(sql, {"__fp_new": new, "__fp_old": old}).column(ROW)
        if not len(known):
            return table
        return table.filter(pc.invert(pc.is_in(table.column(ROW), value_set=known.combine_chunks())))

    # --- reading ---------------------------------------------------------------------------------------

    def read(
        self,
        dataset: str,
        as_of_period: str,
        *,
        as_of_time: dt.datetime | None = None,
        spec: Dataset | None = None,
        columns: Sequence[str] | None = None,
        households: Sequence[int] | None = None,
    ) -> pa.Table:
        """What had been delivered for periods ≤ as_of_period (and committed by as_of_time, if given).

        Snapshots: the latest delivery of the latest period ≤ as_of (keyed snapshots such as ag_income:
        per key, the row of the latest delivery holding that key). Events: all events, each once.
        `columns`: only these (plus what deduplication needs; the result has exactly these, in the
        schema's order). `households`: only rows of these household_keys, pushed into the Parquet scan
        (row groups are clustered by household_key at commit, so their statistics prune). An event whose
        copies were linked to different households is then deduplicated among the rows read only.
        """
        ds = spec or self.catalog[dataset]
        records = self.visible(ds, as_of_period, as_of_time=as_of_time)
        wanted = self._columns(ds, columns)
        table = self._load(ds, records, wanted, households)
        if len(records) <= 1 or table.num_rows == 0:
            return table.select(wanted)
        # events: each identity once, first delivered wins; keyed snapshots: latest delivery wins
        keys = ds.identity_fields if ds.cadence == "events" else ds.key_fields
        order = "_period, _seq, _row" if ds.cadence == "events" else "_period DESC, _seq DESC, _row"
        q = self.engine.dialect.quote
        part = ", ".join(q(k) for k in keys)
        columns = ", ".join(q(c) for c in table.column_names)
        sql = (
            f"SELECT {columns} FROM (SELECT *, ROW_NUMBER() OVER "  # noqa: S608 - quoted catalog identifiers
            f"(PARTITION BY {part} ORDER BY {order}) AS _rn FROM __fp_lake) AS t WHERE _rn = 1 "
            "ORDER BY _period, _seq, _row"
        )
        seq = {r.delivery_id: r.seq for r in records}
        seqs = pa.array([seq[d] for d in table.column("_delivery_id").to_pylist()], pa.int64())
        out = self.engine.query(sql, {"__fp_lake": table.append_column("_seq", seqs)})
        return out.cast(table.schema).select(wanted)

    def visible(
        self, ds: Dataset, as_of_period: str, *, as_of_time: dt.datetime | None = None
    ) -> list[DeliveryRecord]:
        """The deliveries a read as of `as_of_period` (and `as_of_time`) sees, in delivery order.

        Snapshots replacing all: the latest delivery of the latest period ≤ as_of; otherwise all.
        """
        check_period(as_of_period)
        if as_of_time is not None and as_of_time.tzinfo is None:
            raise ValueError("as_of_time must be timezone-aware")
        records = sorted(
            (
                r
                for r in self.deliveries(ds.name)
                if r.period <= as_of_period and (as_of_time is None or r.committed <= as_of_time)
            ),
            key=lambda r: (r.period, r.seq),
        )
        if ds.cadence == "snapshot" and ds.replace == "all" and records:
            return records[-1:]
        return records

    def source(
        self,
        dataset: str,
        as_of_period: str,
        *,
        columns: Sequence[str] | None = None,
        households: Sequence[int] | None = None,
    ) -> Source:
        """What `read(dataset, as_of_period, columns=…, households=…)` returns, as files for the engine
        to scan itself.

        The same rows as read() (tested): snapshots are one file; a keyed snapshot keeps per key the row
        of the latest delivery (`latest_by`); events need no deduplication here because commit() drops
        every event an earlier delivery holds. With nothing delivered yet: an empty Arrow table.
        """
        ds = self.catalog[dataset]
        records = self.visible(ds, as_of_period)
        wanted = self._columns(ds, columns)
        schema = self._schema(ds)
        out = pa.schema([schema.field(c) for c in wanted])
        if not records:
            return out.empty_table()
        if any(c in META_COLUMNS for c in wanted):  # delivery metadata: not in the files
            return self.read(dataset, as_of_period, columns=columns, households=households)
        files = tuple(str(self.data_path(ds.name, r.period, r.delivery_id)) for r in records)
        keyed = ds.cadence == "snapshot" and ds.replace != "all" and len(records) > 1
        keys = None if households is None else tuple(sorted({int(k) for k in households}))
        return ParquetSource(files, out, tuple(ds.key_fields) if keyed else (), keys)

    def _columns(self, ds: Dataset, columns: Sequence[str] | None) -> list[str]:
        names: list[str] = self._schema(ds).names
        if columns is None:
            return names
        unknown = sorted(set(columns) - set(names))
        if unknown:
            raise LakeError(f"{ds.name}: no column {', '.join(unknown)}")
        return [c for c in names if c in set(columns)]

    def _load(
        self,
        ds: Dataset,
        records: list[DeliveryRecord],
        wanted: list[str] | None = None,
        households: Sequence[int] | None = None,
    ) -> pa.Table:
        schema = self._schema(ds)
        if wanted is not None and wanted != schema.names:
            # deduplication needs the identity/key fields and the row number
            need = set(wanted) | set(ds.identity_fields) | set(ds.key_fields) | {ROW}
            schema = pa.schema([f for f in schema if f.name in need or f.name in META_COLUMNS])
        file_cols = [n for n in schema.names if n not in META_COLUMNS]
        filters = None
        if households is not None:
            filters = [("household_key", "in", sorted({int(k) for k in households}))]
        parts = []
        for r in sorted(records, key=lambda r: (r.period, r.seq)):
            path = self.data_path(ds.name, r.period, r.delivery_id)
            t = pq.read_table(path, columns=file_cols, filters=filters)
            n = t.num_rows
            t = t.append_column("_period", pa.array([r.period] * n, pa.string()))
            t = t.append_column("_delivery_id", pa.array([r.delivery_id] * n, pa.string()))
            parts.append(t)
        if not parts:
            return schema.empty_table()
        table = pa.concat_tables(parts, promote_options="permissive")
        return table.select(schema.names).cast(schema)

    def _schema(self, ds: Dataset) -> pa.Schema:
        base = accepted_schema(ds)
        extra = [pa.field(k, pa.int64()) for k in LINK_COLUMNS] + [
            pa.field(m, pa.string()) for m in META_COLUMNS
        ]
        return pa.schema(list(base) + extra)


ROW_GROUP_ROWS = 1 << 17  # small enough that one household's row group decodes in milliseconds


def _cluster_by_household(table: pa.Table) -> pa.Table:
    """Rows ordered by household_key (unlinked rows last), ties in delivery order (_row)."""
    if table.num_rows < 2 or "household_key" not in table.column_names:
        return table
    keys = [("household_key", "ascending", "at_end")]
    if ROW in table.column_names:
        keys.append((ROW, "ascending", "at_end"))
    order = pc.sort_indices(table, sort_keys=keys)
    return table.take(order)


def _write_parquet(
    table: pa.Table,
    path: Path,
    dictionary: list[str] | bool = True,
    statistics: list[str] | bool = True,
    row_group_size: int | None = None,
) -> None:
    # zstd level 1: the same size as the default level here (typed, mostly unique columns), 20 % faster
    pq.write_table(
        table,
        path,
        row_group_size=row_group_size,
        compression="zstd",
        compression_level=1,
        use_dictionary=dictionary,
        write_statistics=statistics,
        # _row counts up: deltas of 1 encode in a few bits (needs the column out of the dictionary)
        column_encoding={ROW: "DELTA_BINARY_PACKED"}
        if ROW in table.column_names and dictionary is not True
        else None,
    )
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
