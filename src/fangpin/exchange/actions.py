"""Importing deliveries: the one path by which department data enters fangpin (CLI, upload and push API
all call `import_file`). The pipeline validates, links and commits rows to the lake; this module keeps the
delivery record, the registry updates, the review queue and the audit trail."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from fangpin.audit.actions import record
from fangpin.audit.models import Outcome
from fangpin.exchange.models import CatalogVersion, Delivery, LinkReview, Source, Status
from fangpin.lib.periods import month_end
from fangpin.pipeline import link_decisions
from fangpin.pipeline.catalog import Catalog, CatalogError, catalog_from_bytes, load_catalog
from fangpin.pipeline.ingest import IngestReport, ingest_file
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
from fangpin.regions.models import Level, Region
from fangpin.registry.actions import PersonRow, load_police_snapshot
from fangpin.registry.models import Household, Membership

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PERSON_FIELDS = ("id_number", "name", "gender", "birth_date", "household_no", "village_code")

logger = logging.getLogger(__name__)


class ExchangeError(ValueError):
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
        "CATALOG_LOADED",
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


def registry_table(id_numbers: Sequence[str] | None = None) -> pa.Table:
    """Current persons with their household, as the linker expects (person_key = Person.pk);
    `id_numbers`: only the persons with these ID numbers (an indexed lookup, not the province).
    The whole registry is reused within a registry_snapshot() block while it has not changed."""
    batch = _batch_registry.get() if id_numbers is None else None
    if batch is None:
        return _read_registry(id_numbers)
    state = _registry_state()
    cached = batch.get("registry")
    if cached is not None and cached[0] == state:
        return cached[1]
    table = _read_registry(None)
    batch["registry"] = (state, table)
    return table


def _read_registry(id_numbers: Sequence[str] | None) -> pa.Table:
    if id_numbers is None:
        return _registry_arrow(_current_rows(Q()))
    wanted = sorted(set(id_numbers))
    return _registry_arrow(
        [row for chunk in _chunks(wanted) for row in _current_rows(Q(person__id_number__in=chunk))]
    )


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


def _current_rows(where: Q) -> list[tuple[Any, ...]]:
    """The current persons matching `where`, as (_REGISTRY_FIELDS) tuples."""
    return list(Membership.objects.filter(end_date__isnull=True).filter(where).values_list(*_REGISTRY_FIELDS))


def _registry_arrow(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in _REGISTRY_FIELDS]
    return pa.table(
        {
            "person_key": pa.array(columns[0], pa.int64()),
            "id_number": pa.array(columns[1], pa.string()),
            "name": pa.array(columns[2], pa.string()),
            "gender": pa.array(columns[3], pa.string()),
            "birth_date": pa.array(columns[4], pa.date32()),
            "household_key": pa.array(columns[5], pa.int64()),
            "household_no": pa.array(columns[6], pa.string()),
            "village_code": pa.array(columns[7], pa.string()),
        }
    )


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _id14_range(prefix: str) -> Q:
    """ID numbers starting with these 14 digits, as a range the unique index on id_number serves (LIKE
    cannot use it on SQLite): [prefix, prefix + 1) holds exactly the 18-character IDs with that prefix."""
    if set(prefix) == {"9"}:  # no province code is 99: kept correct anyway
        return Q(person__id_number__startswith=prefix)
    upper = str(int(prefix) + 1).zfill(len(prefix))
    return Q(person__id_number__gte=prefix, person__id_number__lt=upper)


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
    14 ID digits; same name and birth date; same household; same village and birth year; same village and
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
    years = [
        (v, int(y)) for v, y in distinct("village_code", "birth_year") if y.isdigit() and 1 < int(y) < 9999
    ]
    lookups = [
        *(reduce(or_, map(_id14_range, chunk)) for chunk in _chunks([p for (p,) in distinct("id14")], 100)),
        *(
            reduce(or_, (Q(person__name=n, person__birth_date=d) for n, d in chunk))
            for chunk in _chunks(born, 100)
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


def linkage_model(registry: pa.Table, *, retrain: bool = False) -> LinkModel:
    """The probabilistic linkage model, trained on the registry once and reused: it is retrained when the
    police snapshot has changed the registry, not for every file (training takes seconds to minutes)."""
    path = _model_path()
    if path.exists() and not retrain:
        return LinkModel.load(path)
    model = train_model(registry)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    model.save(partial)
    partial.replace(path)  # readers never see a half-written model
    return model


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
        model = linkage_model(registry, retrain=self.dataset == "ps_person")
        return link(records, registry, dataset_fields=person_fields, settings=LinkSettings(model=model))

    def __call__(self, accepted: pa.Table) -> pa.Table:
        names = set(accepted.column_names)
        if self.dataset == "ps_person":
            self.registry_counts = _apply_police_snapshot(accepted, self.period)
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
            self.result = self._link_persons(records, person_fields)
            self.counts = {
                "linked": self.result.links.num_rows,
                "review": self.result.n_review_rows,
                "unlinked": self.result.unlinked.num_rows,
            }
            links = self.result.links.select(["_row", "person_key", "household_key"])
            return accepted.join(links, "_row", join_type="left outer").sort_by("_row")
        if "household_no" in names:
            keyed = _household_keys(accepted)
            found = keyed.num_rows - keyed.column("household_key").null_count
            self.counts = {"linked": found, "review": 0, "unlinked": keyed.num_rows - found}
            return keyed
        self.counts = {"linked": accepted.num_rows, "review": 0, "unlinked": 0}
        return accepted


def _apply_police_snapshot(accepted: pa.Table, period: str) -> dict[str, int]:
    """The registry is built from the police 户籍 snapshot, applied as dated history."""
    columns = [f.name for f in dataclass_fields(PersonRow)]
    rows = [PersonRow(**r) for r in accepted.select(columns).to_pylist()]
    return load_police_snapshot(rows, as_of=month_end(period))


# --- import ----------------------------------------------------------------------------------------


def known_villages() -> set[str]:
    return set(Region.objects.filter(level=Level.VILLAGE).values_list("prefix", flat=True))


def check_period(period: str) -> None:
    if not _PERIOD.match(period):
        raise ExchangeError(f"期次格式应为 YYYY-MM：{period}")


def check_request(dataset: str, period: str, catalog: Catalog | None = None) -> Catalog:
    catalog = catalog or active_catalog()
    if dataset not in catalog.datasets:
        raise ExchangeError(f"未知数据集：{dataset}（目录中没有）")
    check_period(period)
    return catalog


STAGE_PERCENT = {"read": 10, "validate": 35, "link": 60, "commit": 85, "done": 100}


def _progress(delivery_id: int) -> Callable[[str, str], None]:
    """The pipeline reports stages; the delivery row shows them as a percentage (its own small UPDATE,
    outside the import, so a page polling the delivery sees it move)."""

    def update(_dataset: str, stage: str) -> None:
        Delivery.objects.filter(pk=delivery_id).update(progress=STAGE_PERCENT.get(stage, 0))

    return update


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
    a reason); raises ExchangeError for a bad request; a whole-file rejection is recorded and returned."""
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
        )
    else:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Status.PROCESSING, catalog_version=catalog.version
        )
    store = lake()
    store.recover()
    linker = _Linker(dataset, period)
    try:
        report = ingest_file(
            path,
            dataset,
            period,
            lake=store,
            catalog=catalog,
            known_villages=known_villages(),
            link=linker,
            progress=_progress(delivery.pk),
        )
    except Exception as exc:
        _fail(delivery, exc, actor=actor, username=operator)
        raise
    delivery = _finish(delivery, report, linker, actor=actor, username=operator)
    if dataset == "ag_roster" and delivery.status == Status.ACCEPTED:
        from fangpin.assistance.reconcile import after_roster_delivery  # the roster vs the cases

        transaction.on_commit(lambda: after_roster_delivery(period))
    return delivery


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
        "DELIVERY_IMPORTED" if delivery.status != Status.REJECTED_WHOLE else "DELIVERY_REJECTED",
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


def _fail(delivery: Delivery, exc: Exception, *, actor: Any, username: str) -> None:
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Status.FAILED,
            message=f"处理失败：{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        record(
            "DELIVERY_FAILED",
            actor=actor,
            username=username,
            outcome=Outcome.FAILURE,
            object_type="delivery",
            object_id=delivery.pk,
            reason=type(exc).__name__,
        )


# --- review queue and tokens -------------------------------------------------------------------------


class Conflict(ExchangeError):
    """Someone else changed the object since the form was loaded."""


@transaction.atomic
def decide_link(review: LinkReview, *, person_key: int | None, actor: Any, version: int) -> LinkReview:
    """A person picks one of the candidates (`person_key`) or says none fits (None). The decision is
    written to the lake's link decisions, which screening reads alongside the delivered rows."""
    candidates = {c["person_key"]: c for c in review.candidates}
    if person_key is not None and person_key not in candidates:
        raise ExchangeError("只能在候选人员中选择")
    decision = LinkReview.Decision.LINKED if person_key is not None else LinkReview.Decision.NOT_FOUND
    updated = LinkReview.objects.filter(
        pk=review.pk, version=version, decision=LinkReview.Decision.PENDING
    ).update(
        decision=decision,
        chosen_id=person_key,
        decided_by=actor.username,
        decided_at=timezone.now(),
        version=version + 1,
    )
    if not updated:
        raise Conflict("该记录已被他人处理，请刷新")
    review.refresh_from_db()
    record(
        "LINK_DECIDED",
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
        "TOKEN_CREATED",
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
    record("TOKEN_REVOKED", actor=actor, object_type="department_token", object_id=token.pk)


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
    start the background import; the delivery page shows its progress."""
    from fangpin.exchange.tasks import import_uploaded  # tasks imports this module

    catalog = check_request(dataset, period)
    incoming = Path(settings.FANGPIN_INCOMING)
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / f"{uuid.uuid4().hex}{Path(upload.name).suffix.lower()}"
    with open(path, "wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
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
            "UPLOAD",
            actor=actor,
            object_type="delivery",
            object_id=delivery.pk,
            data={"dataset": dataset, "period": period, "bytes": upload.size},
        )
        # With the database backend the job is a row of this same transaction: no job without its delivery.
        import_uploaded.enqueue(delivery.pk, str(path))
    return delivery
