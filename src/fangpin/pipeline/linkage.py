"""Record linkage: attach department rows to persons of the registry (户籍), even when the ID is broken.

Two steps (see docs/linkage.md and docs/adr/0008-record-linkage-with-splink.md):

1. **Exact ID, set-based.** A row whose ID equals a registry ID is linked in one DuckDB join
   (``method = "exact_id"``, probability 1.0). That is >99 % of the rows of a delivery.
2. **Probabilistic, residue only.** The rows left over (missing, invalid or unknown ID) go to Splink
   (DuckDB backend) against the registry: a Fellegi-Sunter model with comparisons suited to Chinese data
   (ID prefixes that survive a check-character error or Excel mangling, name with pinyin for homophone
   typos, birth date, gender, household/village). Pair odds are normalised over the candidates of each
   record (closed-world posterior), so twins share the probability and go to review instead of a guess.

Django-free; the ``exchange`` app calls :func:`link`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib import idcard
from fangpin.pipeline import pinyin

__all__ = [
    "BLOCKING_KEY_COLUMNS",
    "PERSON_FIELDS",
    "LinkModel",
    "LinkResult",
    "LinkSettings",
    "blocking_keys",
    "exact_id_lookups",
    "link",
    "prepare",
    "train_model",
]

PERSON_FIELDS = ("id_number", "name", "gender", "birth_date", "household_no", "village_code")

# The columns both sides carry into Splink (registry and records alike).
_FEATURES = (
    "unique_id",
    "id",
    "id_kind",
    "id14",
    "name",
    "name_py",
    "name1",
    "gender",
    "birth_date",
    "birth_year",
    "household_no",
    "village_code",
    "township",
)

# How the ID of a residue row looks; `registry` marks the registry side.
KIND_REGISTRY = "registry"
KIND_VALID = "valid"  # a valid ID that is not in the registry (unknown person, or a typo that stayed valid)
KIND_CHECK = "check_char"  # 18 characters, the check character does not fit: a digit or check-char typo
KIND_EXCEL_000 = "excel_000"  # Excel kept 15 significant digits and padded with 000
KIND_EXCEL_SCI = "excel_sci"  # 3.60722E+17: ~6 significant digits, nothing usable within a county
KIND_MISSING = "missing"
KIND_SHAPE = "shape"  # wrong length / characters, or an impossible birth date

# Unlinked reasons (the review UI translates them).
REASON_NO_IDENTIFIER = "no_identifier"  # no usable ID digits and no person field: nobody can link it
REASON_NO_CANDIDATE = "no_candidate"  # blocking found no registry person sharing any key
REASON_LOW_PROBABILITY = "low_probability"  # candidates exist, none is plausible enough

_LEVEL_FLOOR = 1e-9

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class LinkSettings:
    """Thresholds and knobs of :func:`link`.

    ``link_threshold``: candidate posterior at or above which a row is linked.
    ``review_threshold``: a row whose candidates together reach this goes to the review queue.
    ``prior_known``: share of residue rows that belong to some registry person; ``None`` estimates it
    from step 1 (the share of valid IDs found in the registry), clipped to [0.5, 0.99].
    ``model``: a trained :class:`LinkModel`; ``None`` trains one on the fly (u from the registry, m from
    the exact-ID matches of this call) — train once with :func:`train_model` and pass it instead.
    ``all_rows``: send every row to Splink (no exact step) — the benchmark baseline only.
    ``registry_size``: the number of persons in the whole registry when ``registry`` is only a candidate
    set (the persons the rows can meet: their exact IDs and everyone sharing a blocking key with the
    residue, see :func:`blocking_keys`). The prior spreads over the N persons of the registry, and N is
    the only registry-wide number the step uses, so with it the candidates link exactly as the whole
    registry would. ``None``: N is the number of rows of ``registry``.
    """

    link_threshold: float = 0.99
    review_threshold: float = 0.5
    prior_known: float | None = None
    model: LinkModel | None = None
    max_review_candidates: int = 3
    min_candidate_probability: float = 0.01
    all_rows: bool = False
    threads: int | None = None
    registry_size: int | None = None


@dataclass(frozen=True)
class LinkResult:
    """``links``: _row, person_key, household_key, probability, method ("exact_id" | "probabilistic").
    ``review``: _row, rank, person_key, household_key, probability, features — one row per candidate.
    ``unlinked``: _row, reason, id_kind."""

    links: pa.Table
    review: pa.Table
    unlinked: pa.Table

    @property
    def n_review_rows(self) -> int:
        return len(pc.unique(self.review.column("_row"))) if self.review.num_rows else 0

    def relinked(self, links: pa.Table, review: pa.Table, *, method: str, note: str) -> LinkResult:
        """Rows decided by other evidence than this result's: ``links`` (``_row``, ``person_key``,
        ``household_key``) linked, ``review`` (the same, one row per candidate) to the review queue with
        ``note`` as the candidates' features; whatever this result decided for those rows is replaced."""
        rows = pa.concat_arrays(
            [
                links.column("_row").combine_chunks().cast(pa.int64()),
                review.column("_row").combine_chunks().cast(pa.int64()),
            ]
        )

        def without(table: pa.Table) -> pa.Table:
            return table.filter(pc.invert(pc.is_in(table.column("_row"), value_set=rows)))

        n, ranked = links.num_rows, review.sort_by([("_row", "ascending"), ("person_key", "ascending")])
        rows_of = ranked.column("_row").to_pylist()
        ranks = [1 + i - rows_of.index(r) for i, r in enumerate(rows_of)]  # 1, 2, … within each row
        shares = {r: 1.0 / rows_of.count(r) for r in set(rows_of)}
        added = pa.table(
            {
                "_row": links.column("_row").cast(pa.int64()),
                "person_key": links.column("person_key").cast(pa.int64()),
                "household_key": links.column("household_key").cast(pa.int64()),
                "probability": pa.array([1.0] * n, pa.float64()),
                "method": pa.array([method] * n, pa.string()),
            }
        ).cast(_LINKS_SCHEMA)
        queued = pa.table(
            {
                "_row": ranked.column("_row").cast(pa.int64()),
                "rank": pa.array(ranks, pa.int64()),
                "person_key": ranked.column("person_key").cast(pa.int64()),
                "household_key": ranked.column("household_key").cast(pa.int64()),
                "probability": pa.array([shares[r] for r in rows_of], pa.float64()),
                "features": pa.array([note] * ranked.num_rows, pa.string()),
            }
        ).cast(_REVIEW_SCHEMA)
        return LinkResult(
            links=pa.concat_tables([without(self.links).cast(_LINKS_SCHEMA), added]).sort_by("_row"),
            review=pa.concat_tables([without(self.review).cast(_REVIEW_SCHEMA), queued]).sort_by(
                [("_row", "ascending"), ("rank", "ascending")]
            ),
            unlinked=without(self.unlinked),
        )


_LINKS_SCHEMA = pa.schema(
    [
        ("_row", pa.int64()),
        ("person_key", pa.int64()),
        ("household_key", pa.int64()),
        ("probability", pa.float64()),
        ("method", pa.string()),
    ]
)
_REVIEW_SCHEMA = pa.schema(
    [
        ("_row", pa.int64()),
        ("rank", pa.int64()),
        ("person_key", pa.int64()),
        ("household_key", pa.int64()),
        ("probability", pa.float64()),
        ("features", pa.string()),
    ]
)
_UNLINKED_SCHEMA = pa.schema([("_row", pa.int64()), ("reason", pa.string()), ("id_kind", pa.string())])


# ------------------------------------------------------------------------------------------ comparisons


def _level(
    sql: str, label: str, m: float | None = None, u: float | None = None, *, null: bool = False
) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if null:
        level["is_null_level"] = True
    if m is not None:
        level["m_probability"] = m
    if u is not None:
        level["u_probability"] = u
    return level


def _either_kind(kind: str) -> str:
    return f"(id_kind_l = '{kind}' OR id_kind_r = '{kind}')"


# m of the ID levels is conditional on the *shape* of the record's ID (which the record shows): a
# check-char-invalid ID of the true person shares its first 17 digits unless a digit was mistyped; an
# Excel ID padded with 000 always shares the first 15. The shape factor cancels in m/u (u is counted on
# distinct registry persons), so only these ratios matter. Documented in docs/linkage.md.
_ID_M = {
    "exact": 0.99,
    "check17": 0.5,
    "excel15": 0.99,
    "valid_other": 0.005,
    "excel_other": 0.001,
    "close": 0.45,
    "birth14": 0.04,
    "else": 0.01,
}


def _id_comparison(u: dict[str, float]) -> dict[str, Any]:
    return {
        "output_column_name": "id",
        "comparison_description": "resident ID: exact, check-char error, Excel 000, typo, birth date",
        "comparison_levels": [
            _level("id_l IS NULL OR id_r IS NULL", "null", null=True),
            _level("id_l = id_r", "exact", _ID_M["exact"], u["exact"]),
            _level(
                f"{_either_kind(KIND_CHECK)} AND substr(id_l, 1, 17) = substr(id_r, 1, 17)",
                "first 17 (check char)",
                _ID_M["check17"],
                u["check17"],
            ),
            _level(
                f"{_either_kind(KIND_EXCEL_000)} AND substr(id_l, 1, 15) = substr(id_r, 1, 15)",
                "first 15 (Excel 000)",
                _ID_M["excel15"],
                u["excel15"],
            ),
            _level(_either_kind(KIND_VALID), "other valid ID", _ID_M["valid_other"], u["valid_other"]),
            _level(_either_kind(KIND_EXCEL_000), "Excel 000, other", _ID_M["excel_other"], u["excel_other"]),
            _level("damerau_levenshtein(id_l, id_r) <= 1", "one edit", _ID_M["close"], u["close"]),
            _level("id14_l = id14_r", "area + birth date", _ID_M["birth14"], u["birth14"]),
            _level("ELSE", "else", _ID_M["else"], u["else"]),
        ],
    }


def _name_comparison() -> dict[str, Any]:
    return {
        "output_column_name": "name",
        "comparison_description": "name: exact, same pinyin (homophone), one character, pinyin similar",
        "comparison_levels": [
            _level("name_l IS NULL OR name_r IS NULL", "null", null=True),
            _level("name_l = name_r", "exact", 0.95),
            _level("name_py_l = name_py_r", "same pinyin", 0.025),
            _level(
                "length(name_l) = length(name_r) AND levenshtein(name_l, name_r) <= 1", "one character", 0.015
            ),
            _level("jaro_winkler_similarity(name_py_l, name_py_r) >= 0.88", "pinyin similar", 0.005),
            _level("ELSE", "else", 0.005),
        ],
    }


def _birth_comparison() -> dict[str, Any]:
    return {
        "output_column_name": "birth_date",
        "comparison_description": "birth date: exact, one digit / day-month swap, same year",
        "comparison_levels": [
            _level("birth_date_l IS NULL OR birth_date_r IS NULL", "null", null=True),
            _level("birth_date_l = birth_date_r", "exact", 0.97),
            _level("damerau_levenshtein(birth_date_l, birth_date_r) <= 1", "one digit", 0.015),
            _level("birth_year_l = birth_year_r", "same year", 0.01),
            _level("ELSE", "else", 0.005),
        ],
    }


def _gender_comparison() -> dict[str, Any]:
    return {
        "output_column_name": "gender",
        "comparison_description": "gender",
        "comparison_levels": [
            _level("gender_l IS NULL OR gender_r IS NULL", "null", null=True),
            _level("gender_l = gender_r", "exact", 0.99),
            _level("ELSE", "else", 0.01),
        ],
    }


def _place_comparison() -> dict[str, Any]:
    return {
        "output_column_name": "place",
        "comparison_description": "household, village, township",
        "comparison_levels": [
            _level("village_code_l IS NULL OR village_code_r IS NULL", "null", null=True),
            _level("household_no_l = household_no_r", "household", 0.9),
            _level("village_code_l = village_code_r", "village", 0.07),
            _level("township_l = township_r", "township", 0.02),
            _level("ELSE", "else", 0.01),
        ],
    }


_OTHER_COMPARISONS = (_name_comparison, _birth_comparison, _gender_comparison, _place_comparison)

# Blocking: which registry persons a residue row is compared with (OR of the rules).
_BLOCKING_RULES = (
    "l.id14 = r.id14",  # area code + birth date embedded in the ID ("6+8")
    "l.name = r.name AND l.birth_date = r.birth_date",
    # a typo in the given name (no ID, no household): the surname and birth date still meet (ADR 0027)
    "l.name1 = r.name1 AND l.birth_date = r.birth_date",
    "l.household_no = r.household_no",
    "l.village_code = r.village_code AND l.birth_year = r.birth_year",
    "l.name_py = r.name_py AND l.village_code = r.village_code",
)


# The feature columns the blocking rules compare: a registry person is a candidate of a residue row only
# when the row and the person agree on all columns of one rule.
BLOCKING_KEY_COLUMNS = (
    "id14",
    "name",
    "birth_date",
    "household_no",
    "village_code",
    "birth_year",
    "name_py",
    "name1",
)


# ---------------------------------------------------------------------------------------------- model


@dataclass
class LinkModel:
    """A trained Splink model: the settings dict (comparisons with m and u) plus how it was trained."""

    settings: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"splink_settings": self.settings, "meta": self.meta}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> LinkModel:
        data = json.loads(text)
        return cls(settings=data["splink_settings"], meta=data.get("meta", {}))

    def save(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LinkModel:
        return cls.from_json(path.read_text(encoding="utf-8"))


def _splink_settings(comparisons: list[dict[str, Any]], link_type: str, prior: float) -> dict[str, Any]:
    return {
        "link_type": link_type,
        "unique_id_column_name": "unique_id",
        "source_dataset_column_name": "source_dataset",
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": rule, "sql_dialect": "duckdb"} for rule in _BLOCKING_RULES
        ],
        "probability_two_random_records_match": prior,
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
    }


def _connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if threads:
        _exec(con, f"SET threads = {int(threads)}")
    return con


def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _id_u_by_counting(con: duckdb.DuckDBPyConnection, reg: str, n: int) -> dict[str, float]:
    """u of the ID levels counted exactly on distinct registry persons (pairs sharing a prefix).

    Random sampling would barely ever see two persons share 15 or 17 digits, and sampling record ×
    registry pairs would count true matches as non-matches; counting the registry is exact and clean.
    """
    pairs = max(n * (n - 1) / 2, 1.0)

    def shared(width: int) -> float:
        sql = f"SELECT coalesce(sum(c * (c - 1) / 2), 0) FROM (SELECT count(*) c FROM {reg} GROUP BY substr(id, 1, {width}))"  # noqa: S608
        return _scalar(con, sql)

    p18, p17, p15, p14 = shared(18), shared(17), shared(15), shared(14)
    close = _scalar(
        con,
        f"SELECT count(*) FROM {reg} a JOIN {reg} b ON a.id14 = b.id14 AND a.unique_id < b.unique_id "  # noqa: S608
        "WHERE damerau_levenshtein(a.id, b.id) <= 2",
    )
    floor = 0.5 / pairs
    # The levels are conditional on the record's ID shape, so each u is the share of non-matching pairs
    # that reach the level *given that shape*: a check-char record reaches `first 17`, then `one edit`,
    # then `area + birth date`; an Excel-000 record only `first 15` or `Excel 000, other`.
    u = {
        "exact": max(p18 / pairs, floor),
        "check17": max((p17 - p18) / pairs, floor),
        "excel15": max(p15 / pairs, floor),
        "valid_other": max(1.0 - p18 / pairs, floor),
        "excel_other": max(1.0 - p15 / pairs, floor),
        # two valid IDs never differ in one character (the check digit catches it), so a corrupted ID is
        # one edit from a non-match only when that person is two edits from the true one and the wrong
        # character happens to fit: about 1 in 10 of the pairs within two edits
        "close": max(0.1 * close / pairs, floor),
        "birth14": max((p14 - p17 - 0.1 * close) / pairs, floor),
        "else": max(1.0 - p14 / pairs, floor),
    }
    return u


def train_model(
    registry: pa.Table,
    labelled: pa.Table | None = None,
    *,
    seed: int = 1,
    max_pairs: float = 1e6,
    threads: int | None = None,
) -> LinkModel:
    """Train once, reuse: u of name/birth/gender/place by Splink's random sampling of registry pairs
    (distinct persons, so no true match contaminates u), u of the ID levels by exact prefix counting,
    m of name/birth/gender/place from ``labelled`` (records already linked by exact ID, with a
    ``person_key`` column and the person fields) when at least 50 such rows carry names, else defaults.
    """
    from splink import DuckDBAPI, Linker

    _quiet_splink()
    con = _connect(threads)
    reg = prepare(registry, side="registry")
    con.register("reg_features", reg)
    _exec(con, "CREATE TABLE reg AS SELECT * FROM reg_features")
    n = reg.num_rows
    id_u = _id_u_by_counting(con, "reg", n)

    others = [make() for make in _OTHER_COMPARISONS]
    db_api = DuckDBAPI(connection=con)
    dedupe = _splink_settings(others, "dedupe_only", 1.0 / max(n, 2))
    linker = Linker(db_api.register("reg"), dedupe, log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed, min_count_per_level=None)
    trained = linker.misc.save_model_to_json()["comparisons"]
    meta: dict[str, Any] = {
        "registry_rows": n,
        "u_max_pairs": max_pairs,
        "seed": seed,
        "m_source": "defaults",
    }

    if labelled is not None and labelled.num_rows:
        lab = prepare(labelled, side="records", label=True)
        named = pc.sum(pc.is_valid(lab.column("name"))).as_py() or 0
        if named >= 50:
            reg_lab = reg.append_column("person_key", reg.column("unique_id"))  # noqa: F821
            db2 = DuckDBAPI(connection=_connect(threads))
            link_settings = _splink_settings(trained, "link_only", 1.0 / max(n, 2))
            linker2 = Linker(
                [db2.register(lab, table_name="a_records"), db2.register(reg_lab, table_name="b_registry")],
                link_settings,
                log_level=logging.ERROR,
            )
            linker2.training.estimate_m_from_label_column("person_key")
            trained = linker2.misc.save_model_to_json()["comparisons"]
            meta["m_source"] = f"exact-ID matches ({named} labelled rows)"
    trained = [_floor_levels(c) for c in trained]
    comparisons = [_id_comparison(id_u), *trained]
    return LinkModel(settings=_splink_settings(comparisons, "link_only", 1e-4), meta=meta)


def _floor_levels(comparison: dict[str, Any]) -> dict[str, Any]:
    """Unobserved levels (no pair in the sample) get a floor instead of Splink's 'not observed'."""
    defaults = {c()["output_column_name"]: c() for c in _OTHER_COMPARISONS}
    default = defaults.get(comparison.get("output_column_name", ""), comparison)
    levels = []
    for i, level in enumerate(comparison["comparison_levels"]):
        if level.get("is_null_level"):
            levels.append(level)
            continue
        fixed = dict(level)
        if not isinstance(fixed.get("m_probability"), int | float):
            fixed["m_probability"] = default["comparison_levels"][i].get("m_probability", _LEVEL_FLOOR)
        if not isinstance(fixed.get("u_probability"), int | float) or fixed["u_probability"] <= 0:
            fixed["u_probability"] = _LEVEL_FLOOR
        fixed["m_probability"] = max(float(fixed["m_probability"]), _LEVEL_FLOOR)
        levels.append(fixed)
    return {**comparison, "comparison_levels": levels}


# ------------------------------------------------------------------------------------------- features


def _id_kind(raw: str | None) -> tuple[str, str | None]:
    """(kind, usable ID string or None) for one residue ID; reuses fangpin.lib.idcard."""
    value = idcard.normalize(raw)
    found = idcard.problem(value)
    if found is None:
        # a residue ID of 15 digits + 000 is not in the registry: Excel's padding that fits the check
        # character by chance (1 in 11), so only its first 15 digits are evidence (ADR 0027)
        return (KIND_EXCEL_000 if value.endswith("000") else KIND_VALID), value
    if found is idcard.IdProblem.MISSING:
        return KIND_MISSING, None
    if found is idcard.IdProblem.EXCEL_MANGLED:
        return (KIND_EXCEL_000, value) if value.isdigit() and len(value) == 18 else (KIND_EXCEL_SCI, None)
    if found is idcard.IdProblem.CHECK_CHAR:
        return KIND_CHECK, value
    return KIND_SHAPE, value if value[:14].isdigit() else None


def _column(table: pa.Table, name: str) -> pa.Array:
    if name in table.column_names:
        return pc.cast(table.column(name).combine_chunks(), pa.string())
    return pa.nulls(table.num_rows, pa.string())


def _blank_to_null(arr: pa.Array) -> pa.Array:
    stripped = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)


def prepare(table: pa.Table, *, side: str, label: bool = False) -> pa.Table:
    """The Splink feature table of registry persons (``side="registry"``) or residue rows."""
    n = table.num_rows
    if side == "registry":
        uid = pc.cast(table.column("person_key"), pa.int64())
        ids = pc.utf8_upper(_column(table, "id_number"))
        kinds: pa.Array = pa.array([KIND_REGISTRY] * n, pa.string())
        usable = ids
    else:
        uid = pc.cast(table.column("_row"), pa.int64())
        pairs = [_id_kind(v) for v in _column(table, "id_number").to_pylist()]
        kinds = pa.array([k for k, _ in pairs], pa.string())
        usable = pa.array([v for _, v in pairs], pa.string())
    digits14 = pc.utf8_slice_codeunits(usable, 0, 14)
    id14 = pc.if_else(
        pc.and_(pc.equal(pc.utf8_length(digits14), 14), pc.utf8_is_digit(digits14)),
        digits14,
        pa.scalar(None, pa.string()),
    )
    names = _blank_to_null(_column(table, "name"))
    name_py = pinyin.readings(names)
    birth = _blank_to_null(_column(table, "birth_date"))
    birth = pc.utf8_slice_codeunits(birth, 0, 10)
    household = _blank_to_null(_column(table, "household_no"))
    village = _blank_to_null(_column(table, "village_code"))
    village = pc.if_else(pc.is_null(village), pc.utf8_slice_codeunits(household, 0, 12), village)
    gender = _blank_to_null(_column(table, "gender"))
    columns: dict[str, pa.Array] = {
        "unique_id": uid,
        "id": usable,
        "id_kind": kinds,
        "id14": id14,
        "name": names,
        "name_py": name_py,
        "name1": pc.utf8_slice_codeunits(names, 0, 1),
        "gender": gender,
        "birth_date": birth,
        "birth_year": pc.utf8_slice_codeunits(birth, 0, 4),
        "household_no": household,
        "village_code": village,
        "township": pc.utf8_slice_codeunits(village, 0, 9),
    }
    if label:
        columns["person_key"] = pc.cast(table.column("person_key"), pa.int64())
    return pa.table(columns)


# the features of the last registry table prepared: the exchange links a month's large files against
# one whole-registry table (~1.3 s to prepare at 728,000 persons, each time)
_last_registry: list[tuple[pa.Table, pa.Table]] = []


def _registry_features(registry: pa.Table) -> pa.Table:
    """prepare(registry, side="registry"), once per registry table object (tables are immutable)."""
    if _last_registry and _last_registry[0][0] is registry:
        return _last_registry[0][1]
    features = prepare(registry, side="registry")
    _last_registry[:] = [(registry, features)]
    return features


# ---------------------------------------------------------------------------------------------- link


def exact_id_lookups(records: pa.Table) -> list[str]:
    """The registry ID numbers step 1 can match for these rows: each row's ID as given and normalised."""
    raw = [v for v in _column(records, "id_number").to_pylist() if v]
    return sorted({*raw, *(idcard.normalize(v) for v in raw)} - {""})


def blocking_keys(records: pa.Table, id_persons: pa.Table) -> pa.Table:
    """The blocking-key values (:data:`BLOCKING_KEY_COLUMNS`, derived as :func:`prepare` derives them) of
    the rows step 1 leaves over when ``id_persons`` (person_key, household_key, id_number: at least the
    registry persons with an ID of :func:`exact_id_lookups`) stands for the registry. A registry person
    with none of these values is never compared with any row, so a caller can read only the persons
    matching them and link against those with :attr:`LinkSettings.registry_size`."""
    residue = records
    if "id_number" in records.column_names:
        con = _connect()
        _register(con, records, id_persons)
        _, residue, _ = _exact_step(con, records)
        con.close()
    return prepare(residue, side="records").select(list(BLOCKING_KEY_COLUMNS))


def _exec(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    con.execute(sql).fetchall()  # duckdb 2 refuses new work while a result is unfinished


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    rows = con.execute(sql).fetchall()
    return float(rows[0][0]) if rows and rows[0][0] is not None else 0.0


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_table()


def link(
    records: pa.Table,
    registry: pa.Table,
    *,
    dataset_fields: Sequence[str],
    settings: LinkSettings = LinkSettings(),  # noqa: B008 - frozen dataclass, immutable default
) -> LinkResult:
    """Link department rows to registry persons: exact ID first, Splink for the residue.

    ``records`` holds ``_row`` plus (as strings) the fields of ``dataset_fields`` among PERSON_FIELDS;
    ``registry`` holds person_key, id_number, name, gender, birth_date, household_key, household_no,
    village_code. Every ``_row`` ends up in exactly one of links / review / unlinked.
    """
    _quiet_splink()
    fields = [f for f in dataset_fields if f in PERSON_FIELDS]
    keep = ["_row", *[f for f in fields if f in records.column_names]]
    records = records.select(keep)
    con = _connect(settings.threads)
    _register(con, records, registry)

    # Step 1: exact ID, set-based (raw string first; the few misses are retried after normalize()).
    exact = _empty(_LINKS_SCHEMA)
    residue_rows = records
    n_valid = 0
    if "id_number" in fields and not settings.all_rows:
        exact, residue_rows, n_valid = _exact_step(con, records)

    # Step 2: the residue goes to Splink.
    prior_known = settings.prior_known
    if prior_known is None:
        prior_known = (exact.num_rows + 1) / (n_valid + 2)
    prior_known = min(max(prior_known, 0.5), 0.99)
    model = settings.model
    if model is None:
        labelled = None
        if exact.num_rows and "name" in fields:
            labelled = _labelled(records, exact)
        model = train_model(registry, labelled, threads=settings.threads)
    links, review, unlinked = _probabilistic(con, residue_rows, registry, model, prior_known, settings)
    con.close()
    return LinkResult(
        links=pa.concat_tables([exact, links]).sort_by("_row"),
        review=review,
        unlinked=unlinked,
    )


def _register(con: duckdb.DuckDBPyConnection, records: pa.Table, registry: pa.Table) -> None:
    """The tables the exact step joins: records_in (the rows) and person (the registry's IDs)."""
    con.register("records_in", records)
    n = registry.num_rows
    facts = {
        c: registry.column(c) if c in registry.column_names else pa.nulls(n, pa.string())
        for c in ("name", "gender", "birth_date")
    }
    person = pa.table({c: registry.column(c) for c in ("person_key", "household_key", "id_number")} | facts)
    con.register("registry_in", person)
    _exec(
        con,
        "CREATE TEMP TABLE person AS SELECT person_key, household_key, id_number, name, gender, "
        "CAST(birth_date AS VARCHAR) AS birth_date FROM registry_in",
    )


def _padded_agrees(records: pa.Table, id_sql: str) -> str:
    """SQL: the exact match of record r and person p stands — unless the ID is Excel-padded (…000) and r
    contradicts p's name, gender or birth date: then it is another person's real ID that Excel made
    (15 digits + 000 fitting the check character), and the row goes to the probabilistic step."""
    checks = [f"coalesce(r.{c} <> p.{c}, FALSE)" for c in ("name", "gender") if c in records.column_names]
    if "birth_date" in records.column_names:
        checks.append("coalesce(substr(r.birth_date, 1, 10) <> p.birth_date, FALSE)")
    if not checks:
        return "TRUE"
    return f"NOT ({id_sql} LIKE '%000' AND ({' OR '.join(checks)}))"


def _empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def _exact_step(con: duckdb.DuckDBPyConnection, records: pa.Table) -> tuple[pa.Table, pa.Table, int]:
    agrees = _padded_agrees(records, "r.id_number")
    first = _arrow(
        con,
        (
            "SELECT r._row, p.person_key, p.household_key FROM records_in r "  # noqa: S608 - fixed SQL
            f"JOIN person p ON p.id_number = r.id_number WHERE {agrees}"
        ),
    )
    rest = _arrow(
        con,
        (
            "SELECT * FROM records_in r WHERE NOT EXISTS "  # noqa: S608 - fixed SQL
            f"(SELECT 1 FROM person p WHERE p.id_number = r.id_number AND {agrees})"
        ),
    )
    normalized = pa.array([idcard.normalize(v) for v in rest.column("id_number").to_pylist()], pa.string())
    con.register("rest_norm", pa.table({"_row": rest.column("_row"), "id_number": normalized}))
    second = _arrow(
        con,
        (
            "SELECT r._row, p.person_key, p.household_key FROM rest_norm n JOIN records_in r USING (_row) "  # noqa: S608
            f"JOIN person p ON p.id_number = n.id_number WHERE {_padded_agrees(records, 'n.id_number')}"
        ),
    )
    matched = pa.concat_tables([first, second])
    n = matched.num_rows
    links = pa.table(
        {
            "_row": pc.cast(matched.column("_row"), pa.int64()),
            "person_key": pc.cast(matched.column("person_key"), pa.int64()),
            "household_key": pc.cast(matched.column("household_key"), pa.int64()),
            "probability": pa.array([1.0] * n, pa.float64()),
            "method": pa.array(["exact_id"] * n, pa.string()),
        }
    )
    done = pc.is_in(rest.column("_row"), value_set=second.column("_row"))
    residue = rest.filter(pc.invert(done))
    n_valid = n + sum(1 for v in normalized.to_pylist() if idcard.problem(v) is None and v) - second.num_rows
    return links, residue, n_valid


def _labelled(records: pa.Table, exact: pa.Table) -> pa.Table:
    keys = pa.table({"_row": exact.column("_row"), "person_key": exact.column("person_key")})
    return records.join(keys, "_row", join_type="inner")


def _has_any(features: pa.Table) -> pa.Array:
    usable: pa.Array | None = None
    for col in ("id", "name", "birth_date", "household_no", "village_code"):
        valid = pc.is_valid(features.column(col))
        usable = valid if usable is None else pc.or_(usable, valid)
    assert usable is not None
    return usable


def _probabilistic(
    con: duckdb.DuckDBPyConnection,
    residue: pa.Table,
    registry: pa.Table,
    model: LinkModel,
    prior_known: float,
    settings: LinkSettings,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    if residue.num_rows == 0:
        return _empty(_LINKS_SCHEMA), _empty(_REVIEW_SCHEMA), _empty(_UNLINKED_SCHEMA)
    from splink import DuckDBAPI, Linker

    feats = prepare(residue, side="records")
    usable = _has_any(feats)
    hopeless = feats.filter(pc.invert(usable))
    feats = feats.filter(usable)
    unlinked_parts = [
        pa.table(
            {
                "_row": hopeless.column("unique_id"),
                "reason": pa.array([REASON_NO_IDENTIFIER] * hopeless.num_rows, pa.string()),
                "id_kind": hopeless.column("id_kind"),
            }
        )
    ]
    links = _empty(_LINKS_SCHEMA)
    review = _empty(_REVIEW_SCHEMA)
    if feats.num_rows:
        reg = _registry_features(registry)
        n_reg = max(reg.num_rows if settings.registry_size is None else settings.registry_size, 1)
        # Prior odds that a residue row is a given registry person rather than nobody we know:
        # (p / N) / (1 - p). Splink's pair probability then equals the closed-world posterior
        # of that candidate ignoring its competitors; competitors are added below.
        odds = (prior_known / n_reg) / (1.0 - prior_known)
        prior = odds / (1.0 + odds)
        splink_settings = dict(model.settings)
        splink_settings["probability_two_random_records_match"] = prior
        splink_settings["link_type"] = "link_only"
        db_api = DuckDBAPI(connection=con)
        linker = Linker(
            [db_api.register(feats, table_name="a_records"), db_api.register(reg, table_name="b_registry")],
            splink_settings,
            validate_settings=False,
            log_level=logging.ERROR,
        )
        predictions = linker.inference.predict()
        _exec(con, f"CREATE TEMP TABLE pred AS SELECT * FROM {predictions.physical_name}")  # noqa: S608
        labels = _level_labels(splink_settings)
        links, review, scored_rows = _decide(con, registry, labels, settings)
        done = pc.is_in(feats.column("unique_id"), value_set=scored_rows)
        rest = feats.filter(pc.invert(done))
        unlinked_parts.append(
            pa.table(
                {
                    "_row": rest.column("unique_id"),
                    "reason": pa.array([REASON_NO_CANDIDATE] * rest.num_rows, pa.string()),
                    "id_kind": rest.column("id_kind"),
                }
            )
        )
        con.register("feat_kinds", feats.select(["unique_id", "id_kind"]))
        low = _arrow(
            con,
            (
                f"SELECT s._row, '{REASON_LOW_PROBABILITY}' AS reason, k.id_kind FROM scored s "  # noqa: S608
                "JOIN feat_kinds k ON k.unique_id = s._row WHERE s.decision = 'unlinked'"
            ),
        )
        unlinked_parts.append(low.cast(_UNLINKED_SCHEMA))
    unlinked = pa.concat_tables([t.cast(_UNLINKED_SCHEMA) for t in unlinked_parts]).sort_by("_row")
    return links, review, unlinked


def _level_labels(splink_settings: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for comparison in splink_settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        # gamma values: -1 null, then highest level = len-1 ... else = 0
        out[comparison["output_column_name"]] = [lv["label_for_charts"] for lv in reversed(levels)]
    return out


def _features_sql(labels: dict[str, list[str]]) -> str:
    parts = []
    for col, names in labels.items():
        cases = " ".join(f"WHEN {i} THEN '{col}:{name}'" for i, name in enumerate(names))
        parts.append(f"CASE gamma_{col} {cases} ELSE NULL END")
    return f"concat_ws(', ', {', '.join(parts)})"


def _decide(
    con: duckdb.DuckDBPyConnection,
    registry: pa.Table,
    labels: dict[str, list[str]],
    settings: LinkSettings,
) -> tuple[pa.Table, pa.Table, pa.Array]:
    """Closed-world posterior per candidate: odds_j / (1 + Σ odds_k); one decision per record."""
    # In link_only mode the side with the records is the one from source 'a_records'.
    features = _features_sql(labels)
    _exec(
        con,
        f"""
        CREATE TEMP TABLE cand AS
        SELECT
            CASE WHEN source_dataset_l = 'a_records' THEN unique_id_l ELSE unique_id_r END AS _row,
            CASE WHEN source_dataset_l = 'a_records' THEN unique_id_r ELSE unique_id_l END AS person_key,
            -- the row carries a valid ID and it is not this candidate's
            (id_kind_l = '{KIND_VALID}' OR id_kind_r = '{KIND_VALID}') AND id_l IS DISTINCT FROM id_r AS other_id,
            -- the row names someone else: its name agrees with the candidate's at no level (gamma 0 = else)
            coalesce(gamma_name = 0, false) AS other_name,
            least(match_weight, 1000) AS w,
            {features} AS features
        FROM pred
        """,  # noqa: S608
    )
    _exec(
        con,
        """
        CREATE TEMP TABLE post AS
        WITH m AS (SELECT _row, max(w) AS wmax FROM cand GROUP BY _row),
        s AS (
            SELECT c._row, c.person_key, c.features, c.w, c.other_id, c.other_name,
                   -- numerically stable: divide numerator and denominator by 2^wmax
                   pow(2, c.w - m.wmax) / (pow(2, -m.wmax) + sum(pow(2, c.w - m.wmax)) OVER (PARTITION BY c._row)) AS p
            FROM cand c JOIN m USING (_row)
        )
        SELECT *, row_number() OVER (PARTITION BY _row ORDER BY p DESC, person_key) AS rank FROM s
        """,
    )
    con.register("hh", registry.select(["person_key", "household_key"]))
    link_t, review_t = settings.link_threshold, settings.review_threshold
    _exec(
        con,
        f"""
        CREATE TEMP TABLE scored AS
        SELECT _row,
               max(p) FILTER (WHERE rank = 1) AS top,
               sum(p) FILTER (WHERE p >= {settings.min_candidate_probability}) AS mass,
               -- a row with a valid ID nobody in the registry has is someone else, however alike (a
               -- namesake born the same day): never linked, at most shown for review (ADR 0027); so is
               -- a row whose name is not the candidate's at all (an ID one digit off is a neighbour's)
               CASE WHEN max(p) FILTER (WHERE rank = 1) >= {link_t}
                         AND NOT bool_or(other_id OR other_name) FILTER (WHERE rank = 1) THEN 'link'
                    WHEN sum(p) FILTER (WHERE p >= {settings.min_candidate_probability}) >= {review_t} THEN 'review'
                    ELSE 'unlinked' END AS decision
        FROM post GROUP BY _row
        """,  # noqa: S608
    )
    links = _arrow(
        con,
        (
            """
            SELECT p._row::BIGINT AS _row, p.person_key::BIGINT AS person_key, h.household_key::BIGINT AS household_key,
                   p.p AS probability, 'probabilistic' AS method
            FROM post p JOIN scored s USING (_row) JOIN hh h ON h.person_key = p.person_key
            WHERE s.decision = 'link' AND p.rank = 1
            """
        ),
    ).cast(_LINKS_SCHEMA)
    review = _arrow(
        con,
        (
            f"""
            SELECT p._row::BIGINT AS _row, p.rank::BIGINT AS rank, p.person_key::BIGINT AS person_key,
                   h.household_key::BIGINT AS household_key, p.p AS probability, p.features
            FROM post p JOIN scored s USING (_row) JOIN hh h ON h.person_key = p.person_key
            WHERE s.decision = 'review' AND p.rank <= {int(settings.max_review_candidates)}
              AND (p.rank = 1 OR p.p >= {settings.min_candidate_probability})
            ORDER BY _row, rank
            """  # noqa: S608
        ),
    ).cast(_REVIEW_SCHEMA)
    scored_rows = _arrow(con, ("SELECT _row::BIGINT AS _row FROM scored")).column("_row")
    return links, review, scored_rows.combine_chunks()


def describe(result: LinkResult) -> dict[str, int]:
    """Counts for logs and the import report."""
    methods = result.links.column("method").to_pylist()
    return {
        "exact_id": methods.count("exact_id"),
        "probabilistic": methods.count("probabilistic"),
        "review": result.n_review_rows,
        "unlinked": result.unlinked.num_rows,
    }


def with_model(settings: LinkSettings, model: LinkModel) -> LinkSettings:
    return replace(settings, model=model)
