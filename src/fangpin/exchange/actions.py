"""Importing deliveries: the one path by which department data enters fangpin (CLI, upload and push API
all call `import_file`). The pipeline validates, links and commits rows to the lake; this module keeps the
delivery record, the registry updates, the review queue and the audit trail."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome
from fangpin.exchange.models import CatalogVersion, Delivery, LinkReview, Source, Status
from fangpin.exchange.signals import delivery_accepted
from fangpin.kernel import ActionError, lock, outermost
from fangpin.kernel import Conflict as Conflict  # re-exported: the views catch actions.Conflict
from fangpin.lib.periods import PeriodError, month_end, previous_period
from fangpin.lib.periods import check_period as check_format
from fangpin.pipeline import link_decisions, pinyin
from fangpin.pipeline.catalog import Catalog, CatalogError, Dataset, catalog_from_bytes, load_catalog
from fangpin.pipeline.continuity import carried_forward, weak_id_kind
from fangpin.pipeline.id_repair import ID_PROBLEM, UNLINKED
from fangpin.pipeline.ingest import (
    REFUSED_FIELD,
    REFUSED_MESSAGE,
    REFUSED_REASON,
    IngestReport,
    ingest_file,
)
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.linkage import (
    LinkModel,
    LinkResult,
    LinkSettings,
    blocking_keys,
    exact_id_lookups,
    link,
    prepare,
    train_model,
)
from fangpin.pipeline.readers import ROW
from fangpin.regions.models import Level, Region
from fangpin.registry.actions import apply_police_snapshot
from fangpin.registry.models import Household, Membership, Person
from fangpin.registry.snapshot import SNAPSHOT_SCHEMA, SnapshotResult
from fangpin.web.fields import decrypt_column, index_column

PERSON_FIELDS = ("id_number", "name", "gender", "birth_date", "household_no", "village_code")

logger = logging.getLogger(__name__)


class ExchangeError(ActionError):
    """Bad input for an import: the message is shown to the user as is."""


def lake() -> Lake:
    return Lake(Path(settings.FANGPIN_LAKE), catalog=active_catalog())


# --- the catalog ---------------------------------------------------------------------------------


def _parse(yaml_text: str) -> Catalog:
    return catalog_from_bytes(yaml_text.encode("utf-8"))


def active_catalog() -> Catalog:
    """The catalog in force: the active version loaded into the database, else the packaged one."""
    current = CatalogVersion.objects.filter(active=True).first()
    return _parse(current.yaml_text) if current else load_catalog()


@transaction.atomic
def load_catalog_version(yaml_text: str, *, actor: Any = None, username: str = "") -> CatalogVersion:
    """Validate a catalog and make it the one in force; earlier versions are kept."""
    try:
        catalog = _parse(yaml_text)
    except CatalogError as exc:
        raise ExchangeError(f"数据共享目录有误：{exc}") from exc
    existing = CatalogVersion.objects.filter(version=catalog.version).first()
    CatalogVersion.objects.filter(active=True).exclude(version=catalog.version).update(active=False)
    if existing:
        if not existing.active:
            existing.active = True
            existing.save(update_fields=["active"])
        return existing
    version = CatalogVersion.objects.create(
        version=catalog.version,
        yaml_text=yaml_text,
        loaded_by=username or getattr(actor, "username", ""),
        active=True,
    )
    record(
        Event.CATALOG_LOADED,
        actor=actor,
        username=username,
        object_type="catalog",
        object_id=catalog.version,
        data={"datasets": len(catalog.datasets)},
    )
    return version


# --- linking rows to the registry ----------------------------------------------------------------


# A person file links against the registry persons its rows can meet (candidate_registry), not the whole
# registry (10 million persons at province scale, ~50 s to read), unless it is this large: its residue
# (1-2 % of the rows) then spreads over most villages of a county or more, so the candidates are a large
# part of the registry anyway, gathered by thousands of indexed lookups instead of one sequential read.
WHOLE_REGISTRY_ROWS = 200_000
# ... or its candidates would be more than this share of the registry: beyond it the indexed lookups (random
# reads, one chunk at a time) cost about what reading everything does, and the saving is gone.
WHOLE_REGISTRY_SHARE = 0.25
# ... or the names of the residue's villages (read to compare pinyin: two narrow columns, so more of them
# than of whole rows) would be more than this share of the registry.
VILLAGE_NAMES_SHARE = 0.5
# values per indexed query: well within SQLite's and PostgreSQL's limits on query parameters
_CHUNK = 500


# the registry as read once for a batch of files (see registry_snapshot); None outside a batch
_batch_registry: ContextVar[dict[str, tuple[tuple[int, int], pa.Table]] | None] = ContextVar(
    "batch_registry", default=None
)


@contextmanager
def registry_snapshot() -> Iterator[None]:
    """Within this block (a folder of monthly files), the whole registry is read once and reused until
    it changes: at province scale one read is 10 million rows (~50 s), and ~18 person-keyed files link
    against it. The police snapshot in the same folder changes it, and the next read sees that."""
    token = _batch_registry.set({})
    try:
        yield
    finally:
        _batch_registry.reset(token)


def _registry_state() -> tuple[int, int]:
    """Changes whenever the current registry does, given how registry.actions writes it: memberships
    are only created (a higher pk) or ended (fewer current ones); the person and household fields the
    linker reads are never edited after creation."""
    current = Membership.objects.filter(end_date__isnull=True).count()
    return current, int(Membership.objects.aggregate(top=Max("pk"))["top"] or 0)


# A batch's file asking for at least this many ID numbers is served from the batch's whole registry (read
# once, already read for the police snapshot's link) instead of indexed lookups (~20 µs an ID on SQLite: a
# month's department files took ~15 s of them). A push of a few IDs keeps the lookups.
WHOLE_READ_IDS = 20_000


def registry_table(id_numbers: Sequence[str] | None = None) -> pa.Table:
    """Current persons with their household, as the linker expects (person_key = Person.pk);
    `id_numbers`: only the persons with these ID numbers (an indexed lookup, not the province).
    Within a registry_snapshot() block the whole registry is read once and reused while it has not
    changed, also for WHOLE_READ_IDS ID numbers or more (the rows of their lookup, in the whole read's
    order: the linker's results do not depend on the order of the registry's rows)."""
    batch = _batch_registry.get()
    if batch is None or (id_numbers is not None and len(id_numbers) < WHOLE_READ_IDS):
        return _read_registry(id_numbers)
    state = _registry_state()
    cached = batch.get("registry")
    if cached is None or cached[0] != state:
        cached = batch["registry"] = (state, _read_registry(None))
    whole = cached[1]
    if id_numbers is None:
        return whole
    wanted = pa.array(sorted(set(id_numbers)), pa.string())
    return whole.filter(pc.is_in(whole.column("id_number"), value_set=wanted))


def _read_registry(id_numbers: Sequence[str] | None) -> pa.Table:
    if id_numbers is None:
        return _registry_arrow(_current_rows(Q()))
    # by the blind index, read back instead of the ciphertext: each index found is one of the wanted
    # IDs', so no ID needs decrypting (a department's file asks for up to a county's 728,000)
    wanted = sorted(set(id_numbers))
    indexes = index_column(Person, "id_number_index", wanted)
    ids = {str(index): id_number for index, id_number in zip(indexes, wanted, strict=True)}
    where = [Q(person__id_number_index__in=chunk) for chunk in _chunks(sorted(ids))]
    return _registry_arrow([row for q in where for row in _current_rows(q, by_index=True)], ids)


_REGISTRY_FIELDS = (
    "person_id",
    "person__id_number",
    "person__name",
    "person__gender",
    "person__birth_date",
    "household_id",
    "household__household_no",
    "household__village_id",
)


def _current_rows(where: Q, *, by_index: bool = False) -> list[tuple[Any, ...]]:
    """The current persons matching `where`, as (_REGISTRY_FIELDS) tuples: the query's rows as the
    database driver returns them (a county's 728,000 persons through the ORM's per-row conversion took
    seconds more; `_registry_arrow` types the columns at once). `by_index`: the ID's blind index in place
    of its ciphertext."""
    fields = list(_REGISTRY_FIELDS)
    if by_index:
        fields[1] = "person__id_number_index"
    query = Membership.objects.filter(end_date__isnull=True).filter(where).values_list(*fields)
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _registry_arrow(rows: Sequence[tuple[Any, ...]], ids: dict[str, str] | None = None) -> pa.Table:
    """The rows of _current_rows as the linker's table; `ids`: the ID of each blind index when the rows
    were read by_index."""
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in _REGISTRY_FIELDS]
    # read past the ORM, so decrypted here (CRY-02)
    id_numbers = (
        decrypt_column(Person, "id_number", columns[1]) if ids is None else [ids[i] for i in columns[1]]
    )
    return pa.table(
        {
            "person_key": pa.array(columns[0], pa.int64()),
            "id_number": pa.array(id_numbers, pa.string()),
            "name": pa.array(columns[2], pa.string()),
            "gender": pa.array(columns[3], pa.string()),
            "birth_date": pa.array(columns[4]).cast(pa.date32()),  # SQLite returns ISO text
            "household_key": pa.array(columns[5], pa.int64()),
            "household_no": pa.array(columns[6], pa.string()),
            "village_code": pa.array(columns[7], pa.string()),
        }
    )


# what the review page shows for candidates that last month's delivery could not tell apart
CARRIED_FORWARD_NOTE = (
    "身份号码疑被Excel截断（末三位000）：前15位相同的人员中，上月有记录、本月未以完整号码出现者不止一人"
)


def _open_households(person_keys: pa.Array) -> pa.Table:
    """person_key, household_key of these persons' current memberships (persons no longer current: none)."""
    wanted = sorted(set(person_keys.to_pylist()))
    table = _registry_arrow(
        [row for chunk in _chunks(wanted) for row in _current_rows(Q(person_id__in=chunk))]
    )
    return table.select(["person_key", "household_key"])


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _id14_in(prefixes: Sequence[str]) -> Q:
    """ID numbers starting with these 14 digits: the ID is encrypted (CRY-02), so through the blind
    index of its first 14 digits (registry.Person.id14_index)."""
    return Q(person__id14_index__in=index_column(Person, "id14_index", prefixes))


def _iso_date(value: str) -> dt.date | None:
    """The registry date a blocking key's birth_date (YYYY-MM-DD text) can equal; None: none can."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return day if day.isoformat() == value else None


def candidate_registry(records: pa.Table, registry_size: int | Callable[[], int]) -> pa.Table | None:
    """The registry persons these rows can be linked to: those with a row's ID number (raw or normalised),
    and for the rows that ID does not settle, everyone meeting one of them on a blocking rule (same first
    14 ID digits; same name and birth date; same first character of the name and birth date; same household; same village and birth year; same village and
    name pinyin). Linked with LinkSettings(registry_size=...) they give the very result of the whole
    registry (docs/linkage.md). None when they would be much of the registry: read it whole instead.
    `registry_size` may be a function: it is called only when some row is not settled by its ID."""
    by_id = registry_table(exact_id_lookups(records))
    keys = blocking_keys(records, by_id)
    if keys.num_rows == 0:  # every row links by its ID: nobody else can be compared with any of them
        return by_id
    if callable(registry_size):
        registry_size = registry_size()

    def distinct(*columns: str) -> list[Any]:
        present = keys.select(list(columns)).filter(
            reduce(pc.and_, [pc.is_valid(keys.column(c)) for c in columns])
        )
        return sorted(set(zip(*(present.column(c).to_pylist() for c in columns), strict=True)))

    # the pinyin of a name is not in the database: read the names of the villages concerned (two narrow
    # columns, counted first) and keep the persons whose pinyin a residue row of their village has
    by_pinyin = distinct("village_code", "name_py")
    villages = sorted({village for village, _ in by_pinyin})
    in_villages = sum(_current_count(Q(household__village_id__in=chunk)) for chunk in _chunks(villages))
    if by_id.num_rows + in_villages > VILLAGE_NAMES_SHARE * registry_size:
        return None
    same_pinyin = _same_pinyin(villages, set(by_pinyin))
    born = [(name, day) for name, text in distinct("name", "birth_date") if (day := _iso_date(text))]
    surname_born = [
        (first, day) for first, text in distinct("name1", "birth_date") if (day := _iso_date(text))
    ]
    years = [
        (v, int(y)) for v, y in distinct("village_code", "birth_year") if y.isdigit() and 1 < int(y) < 9999
    ]
    lookups = [
        *(_id14_in(chunk) for chunk in _chunks([p for (p,) in distinct("id14")])),
        *(
            reduce(or_, (Q(person__name=n, person__birth_date=d) for n, d in chunk))
            for chunk in _chunks(born, 100)
        ),
        *(
            reduce(or_, (_name_starts(first) & Q(person__birth_date=d) for first, d in chunk))
            for chunk in _chunks(surname_born, 100)
        ),
        *(
            Q(household__household_no__in=[n for (n,) in chunk])
            for chunk in _chunks(distinct("household_no"))
        ),
        *(reduce(or_, (_village_year(v, y) for v, y in chunk)) for chunk in _chunks(years, 100)),
        *(Q(person_id__in=chunk) for chunk in _chunks(same_pinyin)),
    ]
    rows = [row for q in lookups for row in _current_rows(q)]
    found = pa.concat_tables([by_id, _registry_arrow(rows)])
    first = dict(zip(found.column("person_key").to_pylist(), range(found.num_rows), strict=False))
    candidates = found.take(
        pa.array(sorted(first.values()), pa.int64())
    )  # a person matching several keys once
    return None if candidates.num_rows > WHOLE_REGISTRY_SHARE * registry_size else candidates


def _name_starts(first: str) -> Q:
    """Names starting with this character (a prefix, not a range: collations order Chinese variously)."""
    return Q(person__name__startswith=first)


def _current_count(where: Q) -> int:
    return Membership.objects.filter(end_date__isnull=True).filter(where).count()


def _village_year(village: str, year: int) -> Q:
    """Persons of the village born in the year (a date range: the year is not a column)."""
    return Q(
        household__village_id=village,
        person__birth_date__gte=dt.date(year, 1, 1),
        person__birth_date__lt=dt.date(year + 1, 1, 1),
    )


def _same_pinyin(villages: Sequence[str], wanted: set[tuple[str, str]]) -> list[int]:
    """The persons of these villages whose (village, name pinyin), derived as the linker derives it, is
    wanted."""
    found: list[int] = []
    for chunk in _chunks(villages):
        current = Membership.objects.filter(end_date__isnull=True, household__village_id__in=chunk)
        names = list(current.values_list("person_id", "person__name", "household__village_id"))
        if not names:
            continue
        keys, named, village = (list(c) for c in zip(*names, strict=True))
        features = prepare(
            pa.table({"person_key": keys, "name": named, "village_code": village}), side="registry"
        )
        pairs = zip(village, features.column("name_py").to_pylist(), strict=True)
        found += [key for key, pair in zip(keys, pairs, strict=True) if pair in wanted]
    return found


def _model_path() -> Path:
    return Path(settings.FANGPIN_LAKE) / "_models" / "linkage.json"


def _pinyin_path() -> Path:
    """The pinyin of the registry's names (pipeline/pinyin.py), next to the model: the lake already
    holds every name in clear, and the file is rewritten with the current registry's names only."""
    return Path(settings.FANGPIN_LAKE) / "_models" / "name_pinyin.parquet"


def linkage_model(registry: pa.Table, *, changed: int | None = None) -> LinkModel:
    """The probabilistic linkage model, trained on the registry once and reused (training takes seconds
    to minutes). `changed`: after a police snapshot, the persons it created, moved or changed the status
    of (None for any other file: the stored model stands). The model is retrained once the snapshots
    since its training changed RETRAIN_SHARE of the persons it was trained on: a month's births, deaths
    and moves leave its u-probabilities (how often two different persons agree on name, birth, gender,
    place) where they were."""
    path = _model_path()
    if path.exists():
        model = LinkModel.load(path)
        if changed is None:
            return model
        since = int(model.meta.get("changed_since_training", 0)) + changed
        if since < RETRAIN_SHARE * int(model.meta.get("registry_persons", 0)):
            if changed:
                model.meta["changed_since_training"] = since
                _save_model(model, path)
            return model
    model = train_model(_training_sample(registry))
    model.meta |= {"registry_persons": registry.num_rows, "changed_since_training": 0}
    _save_model(model, path)
    return model


# the share of the registry's persons new, moved or changed in status since the model's training that
# retrains it. A month of the simulated county changes ~0.85 % (718,000 persons: 5,547 new, 70 moved,
# 509 dead or gone), so the model is retrained about twice a year; newcomers are of the same population,
# so the pair shares the model holds barely move. A model stored before these counts were kept is
# retrained at the next police snapshot.
RETRAIN_SHARE = 0.05


def _save_model(model: LinkModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    model.save(partial)
    partial.replace(path)  # readers never see a half-written model


# the model's u-probabilities are shares of non-matching pairs of registry persons: a random sample of
# persons estimates them as well (its pairs are a random sample of all pairs) at a fraction of the time
# (a county's 728,000 persons took ~4 minutes to train on, 150,000 take well under one)
TRAINING_PERSONS = 150_000


def _training_sample(registry: pa.Table) -> pa.Table:
    if registry.num_rows <= TRAINING_PERSONS:
        return registry
    chosen = np.random.default_rng(1).choice(registry.num_rows, TRAINING_PERSONS, replace=False)
    return registry.take(pa.array(np.sort(chosen)))


def _household_keys(table: pa.Table) -> pa.Table:
    """Datasets keyed by household number (housing, disasters, roster, income survey) link by it."""
    numbers = table.column("household_no").to_pylist()
    known = dict(Household.objects.filter(household_no__in=set(numbers)).values_list("household_no", "id"))
    keys = pa.array([known.get(n) for n in numbers], pa.int64())
    return table.append_column("household_key", keys).append_column(
        "person_key", pa.nulls(len(table), pa.int64())
    )


@dataclass
class _Linker:
    """The `link` callback handed to the pipeline; it remembers what it found for the delivery record.
    Person datasets link by ID (exact, then probabilistic); household datasets by household number;
    village datasets (drinking water) are already tied to a validated village code."""

    dataset: str
    period: str
    result: LinkResult | None = None
    registry_counts: dict[str, int] = field(default_factory=dict)
    roster: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"linked": 0, "review": 0, "unlinked": 0})

    def _link_persons(self, records: pa.Table, person_fields: list[str]) -> LinkResult:
        """Against the candidate persons of the rows (candidate_registry) when a saved model exists; against
        the whole registry for the police snapshot (it rebuilds the registry and retrains the model), a
        very large file, or candidates that are much of the registry anyway."""
        pinyin.load(_pinyin_path())
        if self.dataset != "ps_person" and records.num_rows <= WHOLE_REGISTRY_ROWS and _model_path().exists():
            counted: list[int] = []

            def registry_size() -> int:
                # current memberships, one per current person: a count over the province (~0.2 s at
                # 10 million), needed only by rows their ID does not settle, so a push of known IDs skips it
                if not counted:
                    counted.append(_registry_state()[0])
                return counted[0]

            candidates = candidate_registry(records, registry_size)
            if candidates is not None:
                logger.info(
                    "%s: %d rows linked against %d candidates%s",
                    self.dataset,
                    records.num_rows,
                    candidates.num_rows,
                    f" of {counted[0]} registry persons" if counted else " (every row by its ID)",
                )
                model = LinkModel.load(_model_path())
                # with every row settled by its ID the prior is never used: no count needed
                link_settings = LinkSettings(model=model, registry_size=counted[0] if counted else None)
                return link(records, candidates, dataset_fields=person_fields, settings=link_settings)
        registry = registry_table()
        model = linkage_model(registry, changed=self._registry_changes())
        result = link(records, registry, dataset_fields=person_fields, settings=LinkSettings(model=model))
        if self.dataset == "ps_person":
            pinyin.save(_pinyin_path(), registry.column("name").combine_chunks())
        return result

    def _registry_changes(self) -> int | None:
        """The persons the police snapshot of this file created, moved or changed the status of (None for
        any other file)."""
        if self.dataset != "ps_person":
            return None
        return sum(self.registry_counts.get(k, 0) for k in ("persons_created", "moved", "status_changed"))

    def __call__(self, accepted: pa.Table) -> pa.Table:
        if self.dataset != "ps_person":
            return self._link(accepted)
        # a row with a broken ID never registers a person: it is linked like any department's (id_repair)
        names = set(accepted.column_names)
        valid_id = (
            accepted.filter(pc.is_null(accepted.column(ID_PROBLEM))) if ID_PROBLEM in names else accepted
        )
        snapshot = _apply_police_snapshot(valid_id, self.period)
        self.registry_counts = snapshot.counts
        if not snapshot.refused.num_rows:
            return self._link(accepted)
        # rows the registry refused are not linked: the pipeline quarantines them (ingest.REFUSED_*)
        refused = pc.is_in(accepted.column(ROW), value_set=snapshot.refused.column(ROW))
        linked = self._link(accepted.filter(pc.invert(refused)))
        rows = pa.concat_tables([linked, accepted.filter(refused)], promote_options="default")
        reasons = snapshot.refused.rename_columns([ROW, REFUSED_FIELD, REFUSED_REASON, REFUSED_MESSAGE])
        return rows.join(reasons, ROW, join_type="left outer").sort_by(ROW)

    def _link(self, accepted: pa.Table) -> pa.Table:
        names = set(accepted.column_names)
        if self.dataset == "ag_roster":
            self.roster = dict(
                zip(
                    accepted.column("household_no").to_pylist(),
                    accepted.column("household_type").to_pylist(),
                    strict=True,
                )
            )
        if "id_number" in names:
            person_fields = [f for f in PERSON_FIELDS if f in names]
            records = pa.table(
                {
                    "_row": accepted.column("_row"),
                    **{f: pc.cast(accepted.column(f), pa.string()) for f in person_fields},
                }
            )
            self.result = self._carry_forward(accepted, self._link_persons(records, person_fields))
            unlinked = self.result.unlinked.select(["_row", "reason"]).rename_columns(["_row", UNLINKED])
            # rows with a broken ID that reach nobody are quarantined by the pipeline (id_repair.settle)
            quarantined = self._broken_ids(accepted, unlinked)
            self.counts = {
                "linked": self.result.links.num_rows,
                "review": self.result.n_review_rows,
                "unlinked": self.result.unlinked.num_rows - quarantined,
            }
            links = self.result.links.select(["_row", "person_key", "household_key"])
            joined = accepted.join(links, "_row", join_type="left outer")
            return joined.join(unlinked, "_row", join_type="left outer").sort_by("_row")
        if "household_no" in names:
            keyed = _household_keys(accepted)
            found = keyed.num_rows - keyed.column("household_key").null_count
            self.counts = {"linked": found, "review": 0, "unlinked": keyed.num_rows - found}
            return keyed
        self.counts = {"linked": accepted.num_rows, "review": 0, "unlinked": 0}
        return accepted

    def _carry_forward(self, accepted: pa.Table, result: LinkResult) -> LinkResult:
        """Rows with a weak ID (padded …000, E-notation, blank) whose record last month's delivery held for
        exactly one person are that person's (pipeline/continuity.py); the linker's guess is replaced."""
        if active_catalog()[self.dataset].cadence != "snapshot" or self.dataset == "ps_person":
            return result
        if not pc.any(pc.is_valid(weak_id_kind(accepted.column("id_number")))).as_py():
            return result  # no weak ID to repair: last month's rows (up to a second to read) are not needed
        previous = lake().read(self.dataset, previous_period(self.period))
        if not previous.num_rows or "person_key" not in previous.column_names:
            return result
        helpers = [c for c in (ID_PROBLEM,) if c in accepted.column_names]
        found = carried_forward(
            accepted.drop_columns(helpers), result.links.select(["_row", "person_key"]), previous
        )
        if not found.links.num_rows and not found.review.num_rows:
            return result
        homes = _open_households(
            pa.concat_arrays(
                [
                    found.links.column("person_key").combine_chunks(),
                    found.review.column("person_key").combine_chunks(),
                ]
            )
        )
        return result.relinked(
            found.links.join(homes, "person_key", join_type="inner"),
            found.review.join(homes, "person_key", join_type="inner"),
            method="carried_forward",
            note=CARRIED_FORWARD_NOTE,
        )

    @staticmethod
    def _broken_ids(accepted: pa.Table, unlinked: pa.Table) -> int:
        if ID_PROBLEM not in accepted.column_names or not unlinked.num_rows:
            return 0
        broken = accepted.filter(pc.is_valid(accepted.column(ID_PROBLEM))).column("_row")
        return int(pc.sum(pc.is_in(unlinked.column("_row"), value_set=broken.combine_chunks())).as_py() or 0)


def _apply_police_snapshot(accepted: pa.Table, period: str) -> SnapshotResult:
    """The registry is built from the police 户籍 snapshot, applied as dated history (set-based)."""
    rows = accepted.select([*SNAPSHOT_SCHEMA, ROW]).cast(
        pa.schema([*(pa.field(n, t) for n, t in SNAPSHOT_SCHEMA.items()), pa.field(ROW, pa.int64())])
    )
    return apply_police_snapshot(rows, as_of=month_end(period))


# --- import ----------------------------------------------------------------------------------------


def known_villages() -> set[str]:
    return set(Region.objects.filter(level=Level.VILLAGE).values_list("prefix", flat=True))


def check_period(period: str) -> None:
    """YYYY-MM, and not a month still to come: no department reports on a period that has not begun."""
    try:
        check_format(period)
    except PeriodError as exc:
        raise ExchangeError(str(exc)) from exc
    current = timezone.localdate().strftime("%Y-%m")
    if period > current:
        raise ExchangeError(f"期次{period}晚于当前月份{current}：只能交付已开始的月份的数据")


def check_request(dataset: str, period: str, catalog: Catalog | None = None) -> Catalog:
    catalog = catalog or active_catalog()
    if dataset not in catalog.datasets:
        raise ExchangeError(f"未知数据集：{dataset}（目录中没有）")
    check_period(period)
    return catalog


STAGE_PERCENT = {"read": 10, "validate": 35, "link": 60, "commit": 85, "done": 100}


def _progress(delivery_id: int) -> Callable[[str, str], None]:
    """The pipeline reports stages; the delivery row shows them as a percentage (its own small UPDATE,
    outside the import, so a page polling the delivery sees it move) and that its worker is alive."""

    def update(_dataset: str, stage: str) -> None:
        Delivery.objects.filter(pk=delivery_id).update(
            progress=STAGE_PERCENT.get(stage, 0), heartbeat_at=timezone.now()
        )

    return update


def _this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


def import_file(
    path: Path,
    dataset: str,
    period: str,
    *,
    source: str = Source.CLI,
    actor: Any = None,
    username: str = "",
    delivery: Delivery | None = None,
    file_name: str = "",
) -> Delivery:
    """Validate, link and store one delivery file. Never raises for bad rows (they are quarantined with
    a reason); raises ExchangeError for a bad request; a whole-file rejection (also: a dependency not
    loaded yet) is recorded and returned, and so is a failure (status FAILED, a Chinese message)."""
    catalog = check_request(dataset, period)
    spec = catalog.datasets[dataset]
    operator = username or getattr(actor, "username", "")
    if delivery is None:
        delivery = Delivery.objects.create(
            dataset=dataset,
            department=spec.department,
            period=period,
            content_hash="",
            source=source,
            file_name=file_name or path.name,
            status=Status.PROCESSING,
            catalog_version=catalog.version,
            operator=operator,
            worker=_this_worker(),
            heartbeat_at=timezone.now(),
        )
    else:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Status.PROCESSING,
            catalog_version=catalog.version,
            worker=_this_worker(),
            heartbeat_at=timezone.now(),
        )
    linker = _Linker(dataset, period)
    try:
        store = lake()
        store.recover()
        report = ingest_file(
            path,
            dataset,
            period,
            lake=store,
            catalog=catalog,
            known_villages=known_villages(),
            link=linker,
            progress=_progress(delivery.pk),
            missing=lambda: missing_dependency(spec),
        )
    except Exception as exc:  # noqa: BLE001 - the traceback goes to the log, the user gets a reason
        return _fail(delivery, exc, actor=actor, username=operator)
    if report.status == "duplicate" and report.delivery_id and not _recorded(report.delivery_id):
        report = _adopt(store, report, linker)
    delivery = _finish(delivery, report, linker, actor=actor, username=operator)
    if delivery.status == Status.ACCEPTED:  # e.g. the roster reconciliation (assistance listens)
        accepted = delivery
        transaction.on_commit(lambda: delivery_accepted.send(sender=Delivery, delivery=accepted))
    return delivery


def missing_dependency(spec: Dataset) -> tuple[str, str] | None:
    """What a file needs before it can be imported and is not there yet: (code, a Chinese reason that
    names the fix), or None. A row is never rejected for what the county has not loaded yet."""
    names = {f.name for f in spec.fields}
    if "village_code" in names and not Region.objects.filter(level=Level.VILLAGE).exists():
        return "regions_missing", (
            "尚未加载行政区划，无法核对村级区划代码：请先加载区划（fangpin regions load --county 县级代码，"
            "如 360722），再重新导入本文件"
        )
    if spec.name != "ps_person" and names & {"id_number", "household_no"} and not Person.objects.exists():
        return "registry_missing", (
            "户籍库为空，无法将本文件关联到人和户：请先导入公安户籍快照 ps_person（同一目录一起导入时会先导入它），"
            "再重新导入本文件"
        )
    return None


def _recorded(lake_delivery_id: str) -> bool:
    return Delivery.objects.filter(lake_delivery_id=lake_delivery_id, status=Status.ACCEPTED).exists()


def _adopt(store: Lake, report: IngestReport, linker: _Linker) -> IngestReport:
    """The lake holds this file but no delivery record says so: an earlier import was killed between the
    lake commit and its final record. Finish it now from the committed rows: the registry changes are
    applied again (a snapshot applied twice changes nothing) and the roster types set, so re-running an
    interrupted import always ends where a clean run would."""
    assert report.delivery_id is not None
    rows = pq.read_table(store.data_path(report.dataset, report.period, report.delivery_id))
    linker(rows.drop_columns([c for c in ("person_key", "household_key") if c in rows.column_names]))
    note = f"补全此前中断的导入（{report.delivery_id}）：已接收{report.accepted}行"
    return replace(report, status="accepted", message_zh=note)


@transaction.atomic
def _finish(
    delivery: Delivery, report: IngestReport, linker: _Linker, *, actor: Any, username: str
) -> Delivery:
    delivery.refresh_from_db()
    delivery.content_hash = report.content_hash
    delivery.lake_delivery_id = report.delivery_id or ""
    delivery.status = {
        "accepted": Status.ACCEPTED,
        "duplicate": Status.DUPLICATE,
        "rejected_whole": Status.REJECTED_WHOLE,
    }[report.status]
    delivery.read, delivery.accepted, delivery.rejected = report.read, report.accepted, report.rejected
    delivery.duplicates = report.duplicates
    delivery.reasons = dict(report.reasons)
    delivery.normalized = dict(report.normalized)
    delivery.encoding, delivery.header_style = report.encoding or "", report.header_style or ""
    delivery.message = report.message_zh or ""
    delivery.progress = 100
    delivery.finished_at = timezone.now()
    if delivery.status == Status.ACCEPTED:
        delivery.linked, delivery.review, delivery.unlinked = (
            linker.counts[k] for k in ("linked", "review", "unlinked")
        )
        if linker.result is not None:
            _queue_reviews(delivery, linker.result)
    delivery.save()
    if delivery.status == Status.ACCEPTED and linker.roster:
        _apply_roster(linker.roster)
    record(
        Event.DELIVERY_IMPORTED if delivery.status != Status.REJECTED_WHOLE else Event.DELIVERY_REJECTED,
        actor=actor,
        username=username,
        outcome=Outcome.SUCCESS if delivery.status != Status.REJECTED_WHOLE else Outcome.FAILURE,
        object_type="delivery",
        object_id=delivery.pk,
        data={
            "dataset": delivery.dataset,
            "period": delivery.period,
            "status": delivery.status,
            "read": delivery.read,
            "accepted": delivery.accepted,
            "rejected": delivery.rejected,
            "duplicates": delivery.duplicates,
            "registry": linker.registry_counts,
        },
    )
    return delivery


def _queue_reviews(delivery: Delivery, result: LinkResult) -> None:
    """One review per uncertain row, with its candidates best first."""
    by_row: dict[int, list[dict[str, Any]]] = {}
    for candidate in sorted(result.review.to_pylist(), key=lambda r: (r["_row"], r["rank"])):
        by_row.setdefault(candidate["_row"], []).append(
            {
                "person_key": candidate["person_key"],
                "household_key": candidate["household_key"],
                "probability": round(float(candidate["probability"]), 4),
                "features": candidate.get("features") or "",
            }
        )
    if not by_row:
        return
    villages = dict(
        Household.objects.filter(pk__in={c[0]["household_key"] for c in by_row.values()}).values_list(
            "id", "village_id"
        )
    )
    LinkReview.objects.bulk_create(
        [
            LinkReview(
                delivery=delivery,
                row=row,
                candidates=candidates,
                best_probability=candidates[0]["probability"],
                village_id=villages[candidates[0]["household_key"]],
            )
            for row, candidates in by_row.items()
            if candidates[0]["household_key"] in villages
        ],
        ignore_conflicts=True,
    )


def _apply_roster(roster: dict[str, str]) -> None:
    """The agriculture roster is the authority on household type (脱贫户 / 一般农户)."""
    by_type: dict[str, list[str]] = {}
    for number, kind in roster.items():
        by_type.setdefault(kind, []).append(number)
    for kind, numbers in by_type.items():
        Household.objects.filter(household_no__in=numbers).exclude(household_type=kind).update(
            household_type=kind
        )


INTERRUPTED = "导入中断：处理进程在完成前终止（如服务器重启或进程被结束）。请重新导入同一文件：已入库的部分会被识别并补全，不会重复。"


def _worker_gone(worker: str) -> bool:
    """The importing process is known to be dead: it ran on this machine and its pid is gone."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def recover_interrupted(now: dt.datetime | None = None) -> list[int]:
    """Deliveries left "processing" by an import that died (SIGKILL, power loss, a restarted worker) are
    marked failed with the reason 导入中断 and audited; importing the file again then completes it. Run
    when `fangpin serve` starts and on every tick of the clock. An import whose process still runs is
    left alone; one on another machine counts as dead after FANGPIN_IMPORT_STALE_HOURS without a stage."""
    now = now or timezone.now()
    stale_before = now - dt.timedelta(hours=settings.FANGPIN_IMPORT_STALE_HOURS)
    recovered = []
    for delivery in Delivery.objects.filter(status=Status.PROCESSING):
        last = delivery.heartbeat_at or delivery.received_at
        if not _worker_gone(delivery.worker) and last >= stale_before:
            continue
        with transaction.atomic():
            changed = Delivery.objects.filter(pk=delivery.pk, status=Status.PROCESSING).update(
                status=Status.FAILED, message=INTERRUPTED, finished_at=now
            )
            if changed:
                record(
                    Event.DELIVERY_INTERRUPTED,
                    outcome=Outcome.FAILURE,
                    object_type="delivery",
                    object_id=delivery.pk,
                    reason="导入中断",
                    data={"dataset": delivery.dataset, "period": delivery.period, "worker": delivery.worker},
                )
                recovered.append(delivery.pk)
    return recovered


def _fail(delivery: Delivery, exc: Exception, *, actor: Any, username: str) -> Delivery:
    """An unexpected error: the traceback goes to the log, the delivery says in Chinese what happened
    and what to do (never the exception's text); nothing of the file was committed to the lake."""
    logger.error("delivery %s (%s %s) failed", delivery.pk, delivery.dataset, delivery.period, exc_info=exc)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Status.FAILED,
            message=(
                f"处理失败：系统内部错误，本文件未入库（详情已记入系统日志，交付编号 {delivery.pk}）。"
                "请联系系统管理员，排除后重新导入本文件"
            ),
            finished_at=timezone.now(),
        )
        record(
            Event.DELIVERY_FAILED,
            actor=actor,
            username=username,
            outcome=Outcome.FAILURE,
            object_type="delivery",
            object_id=delivery.pk,
            reason=type(exc).__name__,
        )
    delivery.refresh_from_db()
    return delivery


# --- review queue and tokens -------------------------------------------------------------------------


@outermost
def decide_link(review: LinkReview, *, person_key: int | None, actor: Any, version: int) -> LinkReview:
    """A person picks one of the candidates (`person_key`) or says none fits (None). The decision is
    written to the lake's link decisions, which screening reads alongside the delivered rows."""
    candidates = {c["person_key"]: c for c in review.candidates}
    if person_key is not None and person_key not in candidates:
        raise ExchangeError("只能在候选人员中选择")
    decision = LinkReview.Decision.LINKED if person_key is not None else LinkReview.Decision.NOT_FOUND
    locked = lock(LinkReview, review.pk, version, message="该记录已被他人处理，请刷新")
    if locked.decision != LinkReview.Decision.PENDING:
        raise Conflict("该记录已被他人处理，请刷新")
    locked.decision, locked.chosen_id = decision, person_key
    locked.decided_by, locked.decided_at = actor.username, timezone.now()
    locked.bump(["decision", "chosen", "decided_by", "decided_at"])
    review.refresh_from_db()
    record(
        Event.LINK_DECIDED,
        actor=actor,
        object_type="link_review",
        object_id=review.pk,
        data={"decision": decision, "delivery": review.delivery_id, "row": review.row, "person": person_key},
    )
    if person_key is not None:
        decided = {
            "delivery_id": review.delivery.lake_delivery_id,
            "_row": review.row,
            "person_key": person_key,
            "household_key": candidates[person_key]["household_key"],
            "decided_at": review.decided_at,
        }
        transaction.on_commit(lambda: link_decisions.record(Path(settings.FANGPIN_LAKE), decided))
    return review


def new_token() -> str:
    import secrets

    return "fp_" + secrets.token_urlsafe(32)


@transaction.atomic
def create_token(*, department: str, name: str, actor: Any) -> tuple[Any, str]:
    from fangpin.exchange.models import DepartmentToken

    token = new_token()
    created = DepartmentToken.objects.create(
        department=department,
        name=name.strip(),
        prefix=token[3:11],
        token_hash=DepartmentToken.digest(token),
        created_by=actor.username,
    )
    record(
        Event.TOKEN_CREATED,
        actor=actor,
        object_type="department_token",
        object_id=created.pk,
        data={"department": department},
    )
    return created, token


@transaction.atomic
def revoke_token(token: Any, *, actor: Any) -> None:
    token.active = False
    token.save(update_fields=["active"])
    record(Event.TOKEN_REVOKED, actor=actor, object_type="department_token", object_id=token.pk)


DELIVERY_SUFFIXES = (".csv", ".xlsx", ".parquet")


@dataclass(frozen=True)
class FolderPlan:
    files: list[tuple[str, Path]]
    unknown: list[str]


def plan_folder(path: Path, only: str = "", catalog: Catalog | None = None) -> FolderPlan:
    """The dataset files of a delivery folder (or one file), the police registry first because the other
    datasets link to the persons it creates. Unknown files are listed, never skipped silently."""
    catalog = catalog or active_catalog()
    if not path.exists():
        raise ExchangeError(f"路径不存在：{path}")
    if path.is_file():
        dataset = only or path.stem
        if dataset not in catalog.datasets:
            raise ExchangeError(f"无法从文件名判断数据集：{path.name}（请指定数据集）")
        return FolderPlan([(dataset, path)], [])
    files, unknown = [], []
    for file in sorted(path.iterdir()):
        if file.name.startswith(("_", ".")) or file.suffix.lower() not in DELIVERY_SUFFIXES:
            continue
        if file.stem not in catalog.datasets:
            unknown.append(file.name)
        elif not only or file.stem == only:
            files.append((file.stem, file))
    if not files:
        raise ExchangeError(f"{path} 中没有可导入的数据集文件")
    files.sort(key=lambda item: (item[0] != "ps_person", item[0]))
    return FolderPlan(files, unknown)


def queue_upload(*, actor: Any, dataset: str, period: str, upload: Any) -> Delivery:
    """Save an uploaded file under a random name (never the user's), record the delivery as queued and
    start the background import; the delivery page shows its progress. A corrected rejected-rows workbook
    (reports.correction_workbook) is recognised and imported as its delivery's correction."""
    from fangpin.exchange.tasks import import_uploaded  # tasks imports this module

    catalog = check_request(dataset, period)
    incoming = Path(settings.FANGPIN_INCOMING)
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / f"{uuid.uuid4().hex}{Path(upload.name).suffix.lower()}"
    with open(path, "wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    path, corrects = _corrected(path, actor, dataset, period)
    with transaction.atomic():
        delivery = Delivery.objects.create(
            dataset=dataset,
            department=catalog.datasets[dataset].department,
            period=period,
            content_hash="",
            source=Source.UPLOAD,
            file_name=upload.name[:255],
            status=Status.QUEUED,
            operator=actor.username,
        )
        record(
            Event.UPLOAD,
            actor=actor,
            object_type="delivery",
            object_id=delivery.pk,
            data={"dataset": dataset, "period": period, "bytes": upload.size, "corrects": corrects},
        )
        # With the database backend the job is a row of this same transaction: no job without its delivery.
        import_uploaded.enqueue(delivery.pk, str(path))
    return delivery


def _corrected(path: Path, actor: Any, dataset: str, period: str) -> tuple[Path, int | None]:
    """An uploaded correction workbook → the file to import (masked values restored) and the delivery it
    corrects; any other file is returned as it is. The original must be one the uploader may see."""
    from fangpin.accounts import scope
    from fangpin.exchange import corrections  # it imports this module

    number = corrections.correction_of(path)
    if number is None:
        return path, None
    try:
        original = scope.deliveries(actor).filter(pk=number).first()
        if original is None:
            raise ExchangeError(f"更正表对应的交付#{number}不存在或不在您的权限范围内")
        corrections.check_original(original, dataset, period)
        return corrections.restore(path, original, path.parent), original.pk
    finally:
        path.unlink(missing_ok=True)
