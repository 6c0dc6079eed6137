"""Row validation of one delivery file as generated SQL: every row is accepted (typed) or rejected (why).

`validation_steps` is a pure function (dataset, dialect → named SQL steps) so the SQL can be reviewed and
snapshot-tested per dialect without an engine; `validate` runs it. One rejected row carries its first
problem, in catalog field order; within a field the ID checks follow fangpin.lib.idcard.problem exactly.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.idcard import CHECK_CHARS, PROBLEM_MESSAGES_ZH, WEIGHTS, IdProblem
from fangpin.pipeline.catalog import Dataset, Field
from fangpin.pipeline.dialect import Dialect
from fangpin.pipeline.engine import Engine, SqlStep, cte_sql
from fangpin.pipeline.readers import ROW, STRING_TYPES, parquet_text

REGION_FIELDS = ("village_code",)
SOURCE = "__fp_source"
RESULT = "__fp_result"
VILLAGES = "__fp_villages"
REASON, FIELD, HKEY = "_reason", "_field", "__fp_hkey"
TEXT_PROBLEM = "__tp_"  # + field: control_char / too_long found by `normalize`, NULL otherwise
# Characters no department sends: C0 and C1 controls (NUL, ESC, NEL…), zero-width and bidi controls (an
# U+202E turns 3607…1234 round on a screen), the byte-order mark. Refused in every text field.
CONTROL_CHARS = "[\\x00-\\x1f\\x7f-\\x9f\\x{200b}-\\x{200f}\\x{202a}-\\x{202e}\\x{2060}-\\x{2069}\\x{feff}]"
# their first UTF-8 byte (C1 and the U+2xxx / U+FEFF ones have a lead byte shared with other characters):
# a column without any of these bytes holds none, and most columns are ruled out by a few numpy passes
_CONTROL_LEADS = (0x7F, 0xC2, 0xE2, 0xEF)

REASONS_ZH: dict[str, str] = {
    **{p.value: PROBLEM_MESSAGES_ZH[p] for p in IdProblem},
    "required_missing": "必填字段为空",
    "enum_invalid": "取值不在代码表内",
    "date_invalid": "日期无效（应为YYYY-MM-DD格式的真实日期）",
    "number_invalid": "数值格式错误",
    "bool_invalid": "是否字段取值无效（应为true/false、1/0或是/否）",
    "out_of_range": "数值超出允许范围",
    "region_unknown": "村级区划代码不是本地区已知的村",
    "duplicate_in_file": "同一文件中主键重复（保留首次出现的行）",
    "control_char": "含有控制字符或不可见的方向控制字符（如NUL、U+202E），请删除后重报",
    "too_long": "文本超过最大长度",
    "date_out_of_range": "日期超出允许范围",
    "exceeds_field": "超过同一行的关联字段",
}
REJECTED_SCHEMA = pa.schema(
    [
        pa.field(ROW, pa.int64()),
        pa.field("field", pa.string()),
        pa.field("reason_code", pa.string()),
        pa.field("message_zh", pa.string()),
        pa.field("raw_value", pa.string()),
    ]
)
_TRUE = ("true", "1", "是")
_FALSE = ("false", "0", "否")
_PATTERNS = {
    "money": r"[+-]?[0-9]+(\.[0-9]+)?",
    "int": r"[+-]?[0-9]+",
    "float": r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "id_shape": r"[0-9]{17}[0-9X]",
    "id_scientific": r"[0-9](\.[0-9]+)?[Ee]\+[0-9]+",
    "id_padded": r"[0-9]{15}000",
}


@dataclass(frozen=True)
class Validated:
    accepted: pa.Table
    rejected: pa.Table
    # per field: enum values written as their Chinese label and stored as the code (not rejections)
    normalized: dict[str, int] = field(default_factory=dict)

    @cached_property
    def reasons(self) -> dict[str, int]:
        return reason_counts(self.rejected)


def reason_counts(rejected: pa.Table) -> dict[str, int]:
    """Rejected rows per reason code (REJECTED_SCHEMA), by code."""
    if not rejected.num_rows:
        return {}
    counts = pc.value_counts(rejected.column("reason_code")).to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in sorted(counts, key=lambda c: str(c["values"]))}


def arrow_type(f: Field) -> pa.DataType:
    return {
        "date": pa.date32(),
        "money": pa.decimal128(18, 2),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
    }.get(f.type, pa.string())


def accepted_schema(dataset: Dataset) -> pa.Schema:
    return pa.schema([pa.field(f.name, arrow_type(f)) for f in dataset.fields] + [pa.field(ROW, pa.int64())])


_MONEY_MAX = 1e10  # Arrow prints floats from 1e10 on in exponent form, which the text path rejects
_EXACT_INT = 2.0**53


def typed_value(col: pa.ChunkedArray, f: Field) -> pa.ChunkedArray | None:
    """A typed (Parquet) column as the field's Arrow type, when that is exactly what the text path gives.

    The text path prints the value (`readers.parquet_text`) and parses it again; here the value passes
    straight through whenever that round trip provably accepts every value unchanged. Otherwise (None)
    the column takes the text path, so results never depend on the path.
    """
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return None
    try:
        if f.type == "date":
            if pa.types.is_date32(t):
                return col
            return pc.cast(col, pa.date32()) if pa.types.is_timestamp(t) else None  # as parquet_text
        if f.type == "bool":
            return col if pa.types.is_boolean(t) else None
        if f.type == "float":
            if pa.types.is_float64(t):
                return col if _within(col, float("inf")) else None
            if pa.types.is_integer(t) and _within(col, _EXACT_INT):
                return pc.cast(col, pa.float64())
            return None
        if f.type == "int":
            if pa.types.is_integer(t):
                return pc.cast(col, pa.int64())  # raises for a uint64 beyond int64: text path
            if pa.types.is_floating(t) and _within(col, _EXACT_INT) and _whole(col, 0):
                return pc.cast(col, pa.int64())
            return None
        if f.type == "money":
            money = arrow_type(f)
            if pa.types.is_integer(t):
                return pc.cast(pc.cast(col, pa.decimal128(38, 2)), money)  # raises when too large
            if pa.types.is_float64(t) and _within(col, _MONEY_MAX) and _whole(col, 2):
                return pc.cast(col, money)
            if pa.types.is_decimal(t) and t.scale <= 2:
                return pc.cast(col, money)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None


def _within(col: pa.ChunkedArray, bound: float) -> bool:
    """Every value finite and below `bound` in magnitude (NULLs are fine: both paths see a NULL)."""
    if pa.types.is_floating(col.type) and pc.all(pc.is_finite(col)).as_py() is False:
        return False
    low, high = (v.as_py() for v in pc.min_max(col).values())
    return low is None or (-bound < float(low) and float(high) < bound)


def _whole(col: pa.ChunkedArray, decimals: int) -> bool:
    """Every value has at most `decimals` decimal places (so its printed text has no more either)."""
    return pc.all(pc.equal(pc.round(col, decimals), col)).as_py() is not False


@dataclass(frozen=True)
class _Column:
    values: pa.ChunkedArray
    problems: pa.ChunkedArray | None = None  # control_char / too_long per row, when any row has one
    labels: pa.ChunkedArray | None = None  # True where an enum value was its Chinese label, now the code


def normalize(
    table: pa.Table, dataset: Dataset, typed: frozenset[str] = frozenset()
) -> tuple[pa.Table, dict[str, pa.ChunkedArray]]:
    """Trim every value, empty → NULL; IDs as fangpin.lib.idcard.normalize; booleans lower-case; enum
    labels (住院) → their code (inpatient); the second value returned marks those rows per field.

    Done with Arrow kernels before the SQL (string functions are the slow part of an engine round trip);
    accepted string columns are these normalised values, the SQL only checks and types them. Fields in
    `typed` already hold their typed value and pass through. A text field with a control character or
    over its maximum length gets a `__tp_<field>` column saying so (only when some row has one).
    """
    text = [f for f in dataset.fields if f.name not in typed]
    # pyarrow kernels release the GIL: two columns at a time keep both cores busy (and at most two
    # intermediate copies alive)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(
            zip(
                [f.name for f in text],
                pool.map(lambda f: _normalize_column(table.column(f.name), f), text),
                strict=True,
            )
        )
    cols = {f.name: done[f.name].values if f.name in done else table.column(f.name) for f in dataset.fields}
    cols[ROW] = table.column(ROW)
    for name, column in done.items():
        if column.problems is not None:
            cols[TEXT_PROBLEM + name] = column.problems
    return pa.table(cols), {name: c.labels for name, c in done.items() if c.labels is not None}


def _normalize_column(col: pa.ChunkedArray, f: Field) -> _Column:
    col = pc.utf8_trim_whitespace(col)
    problems = _text_problems(col, f)
    labels = None
    if f.type == "enum":
        col, labels = _enum_codes(col, f)
    if f.type == "id":
        if pc.any(pc.starts_with(col, "'")).as_py():  # Excel's text marker; rare, the regex is slow
            col = pc.replace_substring_regex(col, "^'+", "")
        col = pc.replace_substring(col, "x", "X")
    elif f.type == "bool":
        col = pc.utf8_lower(col)
    empty = pc.equal(pc.binary_length(col), 0)
    if pc.any(empty).as_py():  # most columns have none: skip the copy
        col = pc.if_else(empty, pa.scalar(None, pa.string()), col)
    return _Column(col, problems, labels)


def _text_problems(col: pa.ChunkedArray, f: Field) -> pa.ChunkedArray | None:
    """'control_char' / 'too_long' per row (NULL if fine); None when no row of the column has either."""
    if f.type not in STRING_TYPES:
        return None
    found: pa.ChunkedArray | None = None
    if f.max_length is not None:
        long = pc.greater(pc.utf8_length(col), f.max_length)
        if pc.any(long).as_py():
            found = pc.if_else(long, pa.scalar("too_long"), pa.scalar(None, pa.string()))
    if _may_hold_controls(col):
        bad = pc.match_substring_regex(col, CONTROL_CHARS)
        if pc.any(bad).as_py():
            found = pc.if_else(bad, pa.scalar("control_char"), found or pa.scalar(None, pa.string()))
    return found


def _may_hold_controls(col: pa.ChunkedArray) -> bool:
    """False when no value's bytes could start a control character (the common case; numpy over the bytes)."""
    if not pa.types.is_string(col.type):
        return True  # (large strings: let the regular expression decide)
    for chunk in col.chunks:
        buffers = chunk.buffers()
        if len(chunk) == 0 or buffers[2] is None:
            continue
        offsets = np.frombuffer(buffers[1], np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = np.frombuffer(buffers[2], np.uint8)[int(offsets[0]) : int(offsets[-1])]
        if (data < 0x20).any() or any((data == lead).any() for lead in _CONTROL_LEADS):
            return True
    return False


def _enum_codes(col: pa.ChunkedArray, f: Field) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None]:
    """Values written as a Chinese label (住院) become their code (inpatient); those rows are marked."""
    labels = f.labels
    distinct = pc.unique(col)  # a few values (a code list), however long the file
    present = distinct.filter(pc.is_in(distinct, value_set=pa.array(list(labels), pa.string()))).to_pylist()
    if not present:  # files written with codes: nothing else to do
        return col, None
    where = pc.index_in(col, value_set=pa.array(present, pa.string()))
    codes = pa.array([labels[v] for v in present], pa.string())
    mapped = pc.if_else(pc.is_valid(where), pc.take(codes, where), col)
    return mapped, pc.is_valid(where)


def validation_steps(
    dataset: Dataset,
    dialect: Dialect,
    *,
    birth_limit: dt.date,
    check_region: bool,
    typed: frozenset[str] = frozenset(),
    id_problems: bool = False,
    period_end: dt.date | None = None,
    text_problems: frozenset[str] = frozenset(),
) -> list[SqlStep]:
    """The validation as named SQL steps over SOURCE and VILLAGES(code).

    Dates may not lie after `period_end` (default `birth_limit`) unless their field allows years ahead.
    SOURCE holds `__tp_<field>` for the fields in `text_problems` (`normalize` found control characters or
    over-long text there).

    With `id_problems`, SOURCE also holds `__idp_<field>`, each ID's problem from `id_problem_steps`
    (NULL for the IDs `plain_ids` vouched for); otherwise the ID checks are part of this SQL.

    SOURCE holds `normalize`d text (+ _row), except the fields in `typed`, which already hold their typed
    value (from `typed_value`): those are only checked for NULL and range. The output has _row, the typed non-string fields,
    _reason (first problem's code, NULL if the row is accepted) and _field, in any order (`validate`
    puts it back in the input's by `_row`: `in_row_order`).
    """
    q, lit, d = dialect.quote, dialect.literal, dialect
    steps: list[SqlStep] = []
    source = SOURCE
    casts = [
        f"{d.try_cast(q(f.name), d.types[f.type])} AS {q('__v_' + f.name)}"
        for f in dataset.fields
        if f.type in ("date", "money", "int", "float") and f.name not in typed
    ]
    if casts:
        steps.append(SqlStep(f"SELECT *, {', '.join(casts)}\nFROM {SOURCE}", "__fp_casts"))
        source = "__fp_casts"

    keys = _dedupe_fields(dataset)
    typed_fields = [f for f in dataset.fields if f.type not in STRING_TYPES]
    derived = [f"{_typed_sql(f, d, f.name in typed)} AS {q('__t_' + f.name)}" for f in typed_fields]
    if derived:
        steps.append(SqlStep(f"SELECT *, {', '.join(derived)}\nFROM {source}", "__fp_typed"))
        source = "__fp_typed"

    # the dedupe groups valid rows by a 64-bit hash of the key (a valid ID is canonical text), then
    # compares the real keys of the few rows whose hash repeats (`validate`)
    key_cols = [q(k if dataset.field(k).type in STRING_TYPES else "__t_" + k) for k in keys]
    # typed values the caller already has (typed Parquet) are not copied out of the engine
    out_typed = [f for f in typed_fields if f.name not in typed]
    hashed = [f"{d.hash64(key_cols)} AS {HKEY}"] if key_cols else []
    checked = [q(ROW)] + hashed + [q("__t_" + f.name) for f in typed_fields]
    bounds = _Bounds(birth_limit, period_end or birth_limit, dataset)
    for f in dataset.fields:
        region = check_region and f.name in REGION_FIELDS
        problem = (
            q("__idp_" + f.name)
            if id_problems and f.type == "id"
            else _problem_sql(f, dialect, bounds, region, f.name in typed)
        )
        if f.name in text_problems:  # a control character or over-long text comes first
            problem = f"COALESCE({q(TEXT_PROBLEM + f.name)}, {problem})"
        checked.append(f"{problem} AS {q('__c_' + f.name)}")
    steps.append(SqlStep(f"SELECT {', '.join(checked)}\nFROM {source}", "__fp_checked"))

    problems = [q("__c_" + f.name) for f in dataset.fields]
    first_field = " ".join(
        f"WHEN {p} IS NOT NULL THEN {lit(f.name)}" for p, f in zip(problems, dataset.fields, strict=True)
    )
    kept = [q(ROW)] + [HKEY] * bool(key_cols) + [q("__t_" + f.name) for f in out_typed]
    steps.append(
        SqlStep(
            f"SELECT {', '.join(kept)},\n"
            f"  COALESCE({', '.join(problems)}) AS {REASON},\n"
            f"  CASE {first_field} END AS {FIELD}\n"
            "FROM __fp_checked",
            "__fp_first",
        )
    )
    out = [q(ROW)] + [f"{q('__t_' + f.name)} AS {q(f.name)}" for f in out_typed] + [HKEY] * bool(key_cols)
    steps.append(
        SqlStep(f"SELECT {', '.join(out)}, {REASON}, {FIELD}\nFROM __fp_first", "__fp_out"),
    )
    return steps


def id_problem_steps(dataset: Dataset, dialect: Dialect, *, birth_limit: dt.date) -> list[SqlStep]:
    """The first problem of every ID field (`__c_<field>`, NULL if none) per row of SOURCE(_row, IDs…).

    Run over the rows `plain_ids` did not vouch for only: an engine evaluates these expressions for whole
    vectors of rows, so keeping the few doubtful IDs apart is what makes the checks cheap.
    """
    q = dialect.quote
    cols = [
        f"{_problem_sql(f, dialect, _Bounds(birth_limit, birth_limit, dataset), False)} AS {q('__c_' + f.name)}"
        for f in dataset.fields
        if f.type == "id"
    ]
    return [SqlStep(f"SELECT {q(ROW)}, {', '.join(cols)}\nFROM {SOURCE}", "__fp_id_problems")]


def dedupe_steps(dataset: Dataset, dialect: Dialect) -> list[SqlStep]:
    """Rows repeating the key of an earlier valid row, over RESULT(_row, _reason, __key0…) of the checks.

    A second, narrow statement: the main one stays a plain projection (no window, no sort of all columns),
    and a hash aggregate over the keys is cheaper than a window. Invalid rows never count as the first.
    """
    q = dialect.quote
    keys = [q(f"__key{i}") for i in range(len(_dedupe_fields(dataset)))]
    if not keys:
        return []
    group = ", ".join(keys)
    on = " AND ".join(f"v.{k} IS NOT DISTINCT FROM g.{k}" for k in keys)  # NULLs group together too
    return [
        SqlStep(f"SELECT {q(ROW)}, {group}\nFROM {RESULT}\nWHERE {REASON} IS NULL", "__fp_valid"),
        SqlStep(
            f"SELECT {group}, MIN({q(ROW)}) AS __first\nFROM __fp_valid\nGROUP BY {group}\nHAVING COUNT(*) > 1",
            "__fp_repeated",
        ),
        SqlStep(
            f"SELECT v.{q(ROW)}\nFROM __fp_valid v JOIN __fp_repeated g ON {on}\nWHERE v.{q(ROW)} <> g.__first",
            "__fp_duplicates",
        ),
    ]


def _dedupe_fields(dataset: Dataset) -> tuple[str, ...]:
    """Keyed datasets: the key. Events without a key: the whole row (a re-sent event is identical)."""
    if dataset.key_fields:
        return dataset.key_fields
    return dataset.identity_fields if dataset.cadence == "events" else ()


def _check_char_sql(digits17: str, d: Dialect) -> str:
    """GB 11643 check character from the first 17 digits as one BIGINT, vectorised.

    Digits come out by integer division (cheaper than 17 substrings); NULL when they are not all digits.
    """
    terms = " + ".join(
        f"({d.int_div(digits17, str(10 ** (16 - i)))} % 10) * {w}" for i, w in enumerate(WEIGHTS)
    )
    return f"SUBSTR('{CHECK_CHARS}', (({terms}) % 11) + 1, 1)"


def _typed_sql(f: Field, d: Dialect, typed: bool = False) -> str:
    """The typed value of a non-string field, NULL when the text is not a valid value of the type.

    Fast path first: a value whose canonical text (cast back to string) equals the input is valid; only
    the others meet the regular expression (CASE evaluates the second branch for those rows only).
    A `typed` input column already is the value.
    """
    q, lit = d.quote, d.literal
    n = q(f.name)
    if typed:
        return n
    if f.type == "bool":
        true_in = ", ".join(lit(v) for v in _TRUE)
        false_in = ", ".join(lit(v) for v in _FALSE)
        return f"CASE WHEN {n} IN ({true_in}) THEN TRUE WHEN {n} IN ({false_in}) THEN FALSE END"
    cast = q("__v_" + f.name)  # TRY_CAST(n AS type), computed once in the first step
    text = d.types["str"]
    canonical = f"CAST({cast} AS {text}) = {n}"
    if f.type == "date":
        return f"CASE WHEN {canonical} THEN {cast} END"  # YYYY-MM-DD of a real date is the canonical text
    whole = f"CAST(CAST({cast} AS BIGINT) AS {text}) = {n}"  # '30000' from a float column: no regex either
    regex = d.full_match(n, _PATTERNS[f.type])
    return f"CASE WHEN {canonical} OR {whole} THEN {cast} WHEN {regex} THEN {cast} END"


@dataclass(frozen=True)
class _Bounds:
    birth_limit: dt.date  # of the birth date inside an ID
    period_end: dt.date  # of the delivered period: the latest date a field may hold (unless years ahead)
    dataset: Dataset


def _problem_sql(f: Field, d: Dialect, bounds: _Bounds, region: bool, typed: bool = False) -> str:
    """The first problem of one field (a reason code or NULL), over the typed step's columns."""
    q, lit = d.quote, d.literal
    birth_limit = bounds.birth_limit
    n = q(f.name)
    t = q("__t_" + f.name)
    missing = "NULL" if f.nullable else "'required_missing'"
    checks: list[tuple[str, str]] = []
    if f.type == "id":
        x = d.try_cast(f"SUBSTR({n}, 1, 17)", "BIGINT")
        k = _check_char_sql(x, d)
        ymd = f"({d.int_div(x, '1000')} % 100000000)"
        limit = int(birth_limit.strftime("%Y%m%d"))
        # most IDs are fine: 17 canonical digits, right check character, plainly valid birth date
        fast = (
            f"{x} >= 10000000000000000 AND LENGTH({n}) = 18 AND CAST({x} AS {d.types['str']}) = SUBSTR({n}, 1, 17) "
            f"AND {k} = SUBSTR({n}, 18, 1) AND {ymd} BETWEEN 19000101 AND {limit} "
            f"AND ({d.int_div(ymd, '100')} % 100) BETWEEN 1 AND 12 AND ({ymd} % 100) BETWEEN 1 AND 28"
        )
        born = d.parse_date(f"SUBSTR({n}, 7, 8)", "yyyymmdd")
        # the same order as fangpin.lib.idcard.problem (tested equal on fuzzed input)
        checks = [
            (fast, "NULL"),
            (f"{n} IS NULL", "NULL" if f.nullable else f"'{IdProblem.MISSING.value}'"),
            (
                f"{d.full_match(n, _PATTERNS['id_scientific'])} "
                f"OR ({d.full_match(n, _PATTERNS['id_padded'])} AND {k} <> '0')",
                f"'{IdProblem.EXCEL_MANGLED.value}'",
            ),
            (f"NOT {d.full_match(n, _PATTERNS['id_shape'])}", f"'{IdProblem.SHAPE.value}'"),
            (
                f"{born} IS NULL OR {born} < {d.date_literal('1900-01-01')} "
                f"OR {born} > {d.date_literal(birth_limit.isoformat())}",
                f"'{IdProblem.BIRTH_DATE.value}'",
            ),
            (f"{k} <> SUBSTR({n}, 18, 1)", f"'{IdProblem.CHECK_CHAR.value}'"),
        ]
    elif f.type in ("str", "enum"):
        checks = [(f"{n} IS NULL", missing)]
        if f.type == "enum" and f.values:
            allowed = ", ".join(lit(v) for v in f.values)
            checks.append((f"{n} NOT IN ({allowed})", "'enum_invalid'"))
    else:
        code = {"date": "'date_invalid'", "bool": "'bool_invalid'"}.get(f.type, "'number_invalid'")
        checks = [(f"{n} IS NULL", missing)]
        if not typed:  # a typed value is valid whenever it is there
            checks.append((f"{t} IS NULL", code))
        if f.range is not None:
            lo, hi = f.range
            checks.append((f"{t} < {lo!r} OR {t} > {hi!r}", "'out_of_range'"))
        if f.type == "date":
            low, high = (d.date_literal(x.isoformat()) for x in (f.min_date, f.max_date(bounds.period_end)))
            checks.append((f"{t} < {low} OR {t} > {high}", "'date_out_of_range'"))
        if f.not_above is not None:  # NULL on either side compares to NULL: no problem
            checks.append((f"{t} > {q('__t_' + f.not_above)}", "'exceeds_field'"))
    if region:
        checks.append((f"{n} NOT IN (SELECT code FROM {VILLAGES})", "'region_unknown'"))  # noqa: S608 - identifiers from the catalog, no user input
    return "CASE " + " ".join(f"WHEN {cond} THEN {code}" for cond, code in checks) + " END"


def validate(
    table: pa.Table,
    dataset: Dataset,
    *,
    known_villages: set[str] | pa.Array | None,
    engine: Engine,
    today: dt.date | None = None,
    period_end: dt.date | None = None,
) -> Validated:
    """Split `table` (from readers.read_file) into typed accepted rows and rejected rows with reasons.

    `today` bounds the birth date inside ID numbers (default: today in UTC); pass the end of the
    delivery period when importing simulated future months. `period_end` (default: `today`) is the end
    of the delivered period: no date field lies after it unless the catalog allows years ahead.
    """
    limit = today or dt.datetime.now(dt.UTC).date()
    period_end = period_end or limit
    check_region = known_villages is not None and any(f.name in REGION_FIELDS for f in dataset.fields)
    source, typed = _typed_columns(table, dataset)
    normalized, labels = normalize(source, dataset, typed)
    del source
    normalized = _with_id_problems(normalized, dataset, engine, limit)
    tables = {SOURCE: normalized}
    if check_region:
        assert known_villages is not None
        codes = known_villages if isinstance(known_villages, pa.Array) else pa.array(sorted(known_villages))
        tables[VILLAGES] = pa.table({"code": codes.cast(pa.string())})
    steps = validation_steps(
        dataset,
        engine.dialect,
        birth_limit=limit,
        check_region=check_region,
        typed=typed,
        id_problems=True,
        period_end=period_end,
        text_problems=frozenset(
            n[len(TEXT_PROBLEM) :] for n in normalized.column_names if n.startswith(TEXT_PROBLEM)
        ),
    )
    sql = cte_sql(steps)
    result = in_row_order(engine.query(sql, tables), normalized.column(ROW))
    if HKEY in result.column_names:
        duplicates = _duplicates(result, normalized, dataset, typed, engine)
        result = result.drop_columns([HKEY])
        if len(duplicates):
            is_dup = pc.is_in(result.column(ROW), value_set=duplicates)
            first_key = pa.scalar(_dedupe_fields(dataset)[0])
            reason = pc.if_else(is_dup, pa.scalar("duplicate_in_file"), result.column(REASON))
            field = pc.if_else(is_dup, first_key, result.column(FIELD))
            result = result.set_column(result.schema.get_field_index(REASON), REASON, reason)
            result = result.set_column(result.schema.get_field_index(FIELD), FIELD, field)

    bad = pc.is_valid(result.column(REASON))
    good = pc.invert(bad)
    columns = []
    for f in dataset.fields:
        source = normalized if f.type in STRING_TYPES or f.name in typed else result
        columns.append(source.column(f.name).filter(good))
    columns.append(normalized.column(ROW).filter(good))
    accepted = pa.Table.from_arrays(columns, schema=accepted_schema(dataset))
    rejected = _rejected(result.filter(bad), table.filter(bad), dataset, period_end)
    assert accepted.num_rows + rejected.num_rows == table.num_rows, "every row is accepted or rejected"
    # labels are counted among the stored rows only (a rejected row is counted as rejected)
    stored = {name: int(pc.sum(pc.and_(mask, good)).as_py() or 0) for name, mask in labels.items()}
    return Validated(accepted, rejected, {name: n for name, n in stored.items() if n})


def in_row_order(result: pa.Table, rows: pa.ChunkedArray) -> pa.Table:
    """`result` (one row per `_row` of the input, in whatever order the engine returned them) in the
    order of `rows`, the input's `_row`: no engine promises an order (DuckDB's parallel join for the
    region check returns a large file in another one; Spark never kept one), the `_row` join does."""
    got = result.column(ROW)
    if got.equals(rows):  # the usual case: nothing to move
        return result
    if len(got) != len(rows):
        raise ValueError(f"the engine returned {len(got)} rows for {len(rows)}")
    where = pc.index_in(rows, value_set=got.combine_chunks())
    if where.null_count:
        raise ValueError("the engine returned rows that are not the input's")
    return result.take(where)


def _with_id_problems(normalized: pa.Table, dataset: Dataset, engine: Engine, limit: dt.date) -> pa.Table:
    """`normalized` plus `__idp_<field>`: the SQL ID checks, run on the rows with a doubtful ID only."""
    ids = [f for f in dataset.fields if f.type == "id"]
    if not ids:
        return normalized
    plain = plain_ids(normalized.column(ids[0].name), limit)
    for f in ids[1:]:
        plain = pc.and_(plain, plain_ids(normalized.column(f.name), limit))
    doubtful = pc.invert(plain)
    rest = normalized.filter(doubtful).select([ROW] + [f.name for f in ids])
    if not rest.num_rows:
        for f in ids:
            normalized = normalized.append_column(
                "__idp_" + f.name, pa.nulls(normalized.num_rows, pa.string())
            )
        return normalized
    problems = in_row_order(
        engine.query(cte_sql(id_problem_steps(dataset, engine.dialect, birth_limit=limit)), {SOURCE: rest}),
        rest.column(ROW),
    )
    # row i of the file → its row among the doubtful ones (NULL for a plain row: no problem)
    where = np.full(normalized.num_rows, -1, np.int64)
    where[np.flatnonzero(doubtful.to_numpy(zero_copy_only=False))] = np.arange(rest.num_rows)
    index = pa.array(where, mask=where < 0)
    for f in ids:
        found = problems.column("__c_" + f.name).combine_chunks().take(index)
        normalized = normalized.append_column("__idp_" + f.name, found)
    return normalized


def _duplicates(
    result: pa.Table, normalized: pa.Table, dataset: Dataset, typed: frozenset[str], engine: Engine
) -> pa.Array:
    """_row of the valid rows repeating the key of an earlier valid row.

    Valid rows whose key hash repeats are the candidates (true repeats plus rare hash collisions);
    `dedupe_steps` then compares their real keys.
    """
    q = engine.dialect.quote
    sql = (
        f"WITH v AS (SELECT {q(ROW)}, {HKEY} FROM {RESULT} WHERE {REASON} IS NULL),\n"  # noqa: S608 - fixed identifiers
        f"g AS (SELECT {HKEY} FROM v GROUP BY {HKEY} HAVING COUNT(*) > 1)\n"
        f"SELECT v.{q(ROW)} FROM v JOIN g ON v.{HKEY} = g.{HKEY}"
    )
    candidates = engine.query(sql, {RESULT: result.select([ROW, REASON, HKEY])}).column(ROW)
    if not len(candidates):
        return pa.array([], pa.int64())
    mask = pc.is_in(result.column(ROW), value_set=candidates.combine_chunks())
    narrow = {ROW: result.column(ROW).filter(mask), REASON: pa.nulls(len(candidates), pa.string())}
    for i, k in enumerate(_dedupe_fields(dataset)):
        f = dataset.field(k)
        source = normalized if f.type in STRING_TYPES or k in typed else result
        narrow[f"__key{i}"] = source.column(k).filter(mask)
    duplicates: pa.Array = (
        engine.query(cte_sql(dedupe_steps(dataset, engine.dialect)), {RESULT: pa.table(narrow)})
        .column(ROW)
        .combine_chunks()
    )
    return duplicates


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def plain_ids(col: pa.ChunkedArray, limit: dt.date) -> pa.ChunkedArray:
    """True for a normalised ID that is plainly valid: 18 bytes, 17 digits not starting with 0, a real
    birth date 1900-01-01…limit and the right check character (then fangpin.lib.idcard finds no problem).

    The common case, vectorised in numpy; only the other rows meet the SQL checks (`id_problem_steps`),
    which decide every problem themselves: a False here never changes a result, only costs time.
    """
    limit_ymd = int(limit.strftime("%Y%m%d"))
    chunks = [_plain_chunk(chunk, limit_ymd) for chunk in col.cast(pa.string()).chunks]
    return pa.chunked_array([pa.array(c, pa.bool_()) for c in chunks], pa.bool_())


def _plain_chunk(arr: pa.Array, limit_ymd: int) -> np.ndarray:
    n = len(arr)
    buffers = arr.buffers()
    if n == 0 or buffers[2] is None:
        return np.zeros(n, bool)
    offsets = np.frombuffer(buffers[1], np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], np.uint8)
    start = int(offsets[0])
    if not arr.null_count and int(offsets[-1]) - start == 18 * n and (np.diff(offsets) == 18).all():
        return _plain_bytes(data[start : start + 18 * n].reshape(n, 18), limit_ymd)  # no copy
    # some IDs are not 18 bytes long (or missing): check the others, copied into one contiguous run
    mask = pc.fill_null(pc.equal(pc.binary_length(arr), 18), False)
    out = np.zeros(n, bool)
    rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if len(rows):
        out[rows] = _plain_chunk(arr.filter(mask), limit_ymd)
    return out


def _plain_bytes(m: np.ndarray, limit_ymd: int) -> np.ndarray:
    """One row of 18 bytes per ID."""
    # one contiguous row per digit position (column access of an (n, 18) matrix is slow)
    digits = np.ascontiguousarray((m[:, :17] - np.uint8(ord("0"))).T)  # bytes below '0' wrap: > 9
    good = (digits.max(axis=0) <= 9) & (digits[0] != 0)
    total = np.zeros(len(m), np.int32)
    ymd = np.zeros(len(m), np.int32)
    for i, w in enumerate(WEIGHTS):
        total += digits[i] * np.int32(w)
        if 6 <= i < 14:
            ymd = ymd * 10 + digits[i]
    good &= m[:, 17] == np.frombuffer(CHECK_CHARS.encode(), np.uint8)[total % 11]
    year, month, day = ymd // 10000, (ymd // 100) % 100, ymd % 100
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    good &= (ymd >= 19000101) & (ymd <= limit_ymd) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)
    return np.asarray(good, bool)


def _typed_columns(table: pa.Table, dataset: Dataset) -> tuple[pa.Table, frozenset[str]]:
    """Typed columns as their values (`typed_value`) where possible, the others as `parquet_text`."""
    typed: set[str] = set()
    for f in dataset.fields:
        col = table.column(f.name)
        if pa.types.is_string(col.type):
            continue
        value = typed_value(col, f) if f.type not in STRING_TYPES else None
        if value is not None:
            typed.add(f.name)
        i = table.schema.get_field_index(f.name)
        table = table.set_column(i, f.name, value if value is not None else parquet_text(col, f))
    return table, frozenset(typed)


def _rejected(bad: pa.Table, source: pa.Table, dataset: Dataset, period_end: dt.date) -> pa.Table:
    """Rejection rows plus the whole raw row as delivered (the quarantine keeps values as given)."""
    fields = bad.column(FIELD).combine_chunks()
    codes = bad.column(REASON).combine_chunks()
    # the same rows as `bad` (`in_row_order` put the result in input order); typed Parquet values as the text path prints them
    raw = pa.table(
        {
            f.name: col if pa.types.is_string(col.type) else parquet_text(col, f)
            for f in dataset.fields
            for col in [source.column(f.name)]
        }
    )
    raw_value = pa.nulls(bad.num_rows, pa.string())
    for name in raw.column_names:
        # the value of the field each row was rejected for (rejected rows are few: a loop over fields)
        raw_value = pc.if_else(pc.equal(fields, name), raw.column(name).combine_chunks(), raw_value)
    out = pa.table(
        [bad.column(ROW), fields, codes, _messages(fields, codes, dataset, period_end), raw_value],
        schema=REJECTED_SCHEMA,
    )
    for name in raw.column_names:
        out = out.append_column(pa.field(name, pa.string()), raw.column(name).cast(pa.string()))
    return out


def _messages(fields: pa.Array, codes: pa.Array, dataset: Dataset, period_end: dt.date) -> pa.Array:
    if not len(codes):
        return pa.array([], pa.string())
    pairs = pc.binary_join_element_wise(fields, codes, "\x1f")
    unique = pc.unique(pairs)
    text = [_message(dataset, period_end, *str(p).split("\x1f")) for p in unique.to_pylist()]
    return pa.array(text, pa.string()).take(pc.index_in(pairs, unique))


def _message(dataset: Dataset, period_end: dt.date, field_name: str, code: str) -> str:
    f = dataset.field(field_name)
    text = f"{f.zh}：{REASONS_ZH[code]}"
    if code == "too_long":
        text += f"（最多{f.max_length}个字）"
    elif code == "date_out_of_range":
        text += f"（{f.min_date.isoformat()}～{f.max_date(period_end).isoformat()}）"
    elif code == "exceeds_field" and f.not_above:
        text += f"（不应大于{dataset.field(f.not_above).zh}）"
    if code == "enum_invalid" and f.values:
        text += "（可选：" + "、".join(f"{k}={v}" for k, v in f.values.items()) + "）"
    elif code == "out_of_range" and f.range:
        text += f"（{_num(f.range[0])}～{_num(f.range[1])}）"
    return text


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
