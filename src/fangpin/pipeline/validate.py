"""Row validation of one delivery file as generated SQL: every row is accepted (typed) or rejected (why).

`validation_steps` is a pure function (dataset, dialect → named SQL steps) so the SQL can be reviewed and
snapshot-tested per dialect without an engine; `validate` runs it. One rejected row carries its first
problem, in catalog field order; within a field the ID checks follow fangpin.lib.idcard.problem exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.idcard import CHECK_CHARS, PROBLEM_MESSAGES_ZH, WEIGHTS, IdProblem
from fangpin.pipeline.catalog import Dataset, Field
from fangpin.pipeline.dialect import Dialect
from fangpin.pipeline.engine import Engine, SqlStep, cte_sql
from fangpin.pipeline.readers import ROW

REGION_FIELDS = ("village_code",)
SOURCE = "__fp_source"
VILLAGES = "__fp_villages"
REASON, FIELD, RAW = "_reason", "_field", "_raw"

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
    "id_scientific": r"[0-9](\.[0-9]+)?E\+[0-9]+",
    "id_padded": r"[0-9]{15}000",
}


@dataclass(frozen=True)
class Validated:
    accepted: pa.Table
    rejected: pa.Table

    @cached_property
    def reasons(self) -> dict[str, int]:
        if not self.rejected.num_rows:
            return {}
        counts = pc.value_counts(self.rejected.column("reason_code")).to_pylist()
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


def validation_steps(
    dataset: Dataset, dialect: Dialect, *, birth_limit: dt.date, check_region: bool
) -> list[SqlStep]:
    """The validation as named SQL steps over SOURCE (all-string columns + _row) and VILLAGES(code)."""
    q, lit = dialect.quote, dialect.literal
    norm_cols = [f"{q(ROW)}"]
    for f in dataset.fields:
        col = f"TRIM({q(f.name)})"
        if f.type == "id":
            # as idcard.normalize: Excel users type a leading apostrophe to force text; x → X
            col = f"UPPER(REGEXP_REPLACE({col}, '^''+', ''))"
        elif f.type == "bool":
            col = f"LOWER({col})"
        norm_cols.append(f"{q(f.name)} AS {q('__r_' + f.name)}")
        norm_cols.append(f"NULLIF({col}, '') AS {q('__n_' + f.name)}")
        if f.type == "id":
            norm_cols.append(f"{_check_char_sql(q('__n_' + f.name))} AS {q('__k_' + f.name)}")
    steps = [SqlStep(f"SELECT {', '.join(norm_cols)}\nFROM {SOURCE}", "__fp_norm")]

    typed_cols = [q(ROW)]
    for f in dataset.fields:
        typed, problem = _field_sql(f, dialect, birth_limit, check_region and f.name in REGION_FIELDS)
        typed_cols.append(f"{typed} AS {q(f.name)}")
        typed_cols.append(f"{problem} AS {q('__c_' + f.name)}")
        typed_cols.append(q("__r_" + f.name))
    steps.append(SqlStep(f"SELECT {', '.join(typed_cols)}\nFROM __fp_norm", "__fp_typed"))

    problems = [q("__c_" + f.name) for f in dataset.fields]
    first_field = " ".join(
        f"WHEN {p} IS NOT NULL THEN {lit(f.name)}" for p, f in zip(problems, dataset.fields, strict=True)
    )
    first_raw = " ".join(
        f"WHEN {p} IS NOT NULL THEN {q('__r_' + f.name)}"
        for p, f in zip(problems, dataset.fields, strict=True)
    )
    out_cols = [q(ROW)] + [q(f.name) for f in dataset.fields]
    raw_cols = [q("__r_" + f.name) for f in dataset.fields]
    steps.append(
        SqlStep(
            f"SELECT {', '.join(out_cols + raw_cols)},\n"
            f"  COALESCE({', '.join(problems)}) AS {REASON},\n"
            f"  CASE {first_field} END AS {FIELD},\n"
            f"  CASE {first_raw} END AS {RAW}\n"
            "FROM __fp_typed",
            "__fp_first",
        )
    )

    keys = _dedupe_fields(dataset)
    if keys:
        # keep the first occurrence among otherwise valid rows: an invalid first copy does not hide a valid one
        partition = ", ".join([f"({REASON} IS NULL)"] + [q(k) for k in keys])
        dup = f"ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {q(ROW)}) > 1 AND {REASON} IS NULL"
        steps.append(
            SqlStep(
                f"SELECT {', '.join(out_cols + raw_cols)},\n"
                f"  CASE WHEN {dup} THEN 'duplicate_in_file' ELSE {REASON} END AS {REASON},\n"
                f"  CASE WHEN {dup} THEN {lit(keys[0])} ELSE {FIELD} END AS {FIELD},\n"
                f"  CASE WHEN {dup} THEN {q('__r_' + keys[0])} ELSE {RAW} END AS {RAW}\n"
                "FROM __fp_first",
                "__fp_dedup",
            )
        )
    last = steps[-1].output
    steps.append(SqlStep(f"SELECT {', '.join(out_cols)}, {REASON}, {FIELD}, {RAW}\nFROM {last}", "__fp_out"))
    return steps


def _dedupe_fields(dataset: Dataset) -> tuple[str, ...]:
    """Keyed datasets: the key. Events without a key: the whole row (a re-sent event is identical)."""
    if dataset.key_fields:
        return dataset.key_fields
    return dataset.identity_fields if dataset.cadence == "events" else ()


def _check_char_sql(n: str) -> str:
    """GB 11643 check character of the first 17 characters, vectorised (garbage, not an error, if not digits)."""
    terms = " + ".join(f"(ASCII(SUBSTR({n}, {i + 1}, 1)) - 48) * {w}" for i, w in enumerate(WEIGHTS))
    return f"SUBSTR('{CHECK_CHARS}', ((({terms}) % 11) + 11) % 11 + 1, 1)"


def _field_sql(f: Field, d: Dialect, birth_limit: dt.date, region: bool) -> tuple[str, str]:
    """(typed value expression, first-problem expression) for one field of __fp_norm."""
    q, lit = d.quote, d.literal
    n = q("__n_" + f.name)
    missing = "NULL" if f.nullable else "'required_missing'"
    checks: list[tuple[str, str]] = []
    if f.type == "id":
        k = q("__k_" + f.name)
        born = d.parse_date(f"SUBSTR({n}, 7, 8)", "yyyymmdd")
        typed = n
        checks = [
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
        typed = n
        checks = [(f"{n} IS NULL", missing)]
        if f.type == "enum" and f.values:
            allowed = ", ".join(lit(v) for v in f.values)
            checks.append((f"{n} NOT IN ({allowed})", "'enum_invalid'"))
    elif f.type == "bool":
        true_in = ", ".join(lit(v) for v in _TRUE)
        false_in = ", ".join(lit(v) for v in _FALSE)
        typed = f"CASE WHEN {n} IN ({true_in}) THEN TRUE WHEN {n} IN ({false_in}) THEN FALSE END"
        checks = [(f"{n} IS NULL", missing), (f"({typed}) IS NULL", "'bool_invalid'")]
    else:
        pattern = _PATTERNS[f.type]
        parsed = d.parse_date(n, "yyyy-mm-dd") if f.type == "date" else d.try_cast(n, d.types[f.type])
        typed = f"CASE WHEN {d.full_match(n, pattern)} THEN {parsed} END"
        code = "'date_invalid'" if f.type == "date" else "'number_invalid'"
        checks = [(f"{n} IS NULL", missing), (f"({typed}) IS NULL", code)]
        if f.range is not None:
            lo, hi = f.range
            checks.append((f"({typed}) < {lo!r} OR ({typed}) > {hi!r}", "'out_of_range'"))
    if region:
        checks.append((f"{n} NOT IN (SELECT code FROM {VILLAGES})", "'region_unknown'"))  # noqa: S608 - identifiers from the catalog, no user input
    problem = "CASE " + " ".join(f"WHEN {cond} THEN {code}" for cond, code in checks) + " END"
    return typed, problem


def validate(
    table: pa.Table,
    dataset: Dataset,
    *,
    known_villages: set[str] | pa.Array | None,
    engine: Engine,
    today: dt.date | None = None,
) -> Validated:
    """Split `table` (from readers.read_file) into typed accepted rows and rejected rows with reasons.

    `today` bounds the birth date inside ID numbers (default: today in UTC); pass the end of the
    delivery period when importing simulated future months.
    """
    limit = today or dt.datetime.now(dt.UTC).date()
    check_region = known_villages is not None and any(f.name in REGION_FIELDS for f in dataset.fields)
    tables = {SOURCE: table}
    if check_region:
        assert known_villages is not None
        codes = known_villages if isinstance(known_villages, pa.Array) else pa.array(sorted(known_villages))
        tables[VILLAGES] = pa.table({"code": codes.cast(pa.string())})
    sql = cte_sql(validation_steps(dataset, engine.dialect, birth_limit=limit, check_region=check_region))
    result = engine.query(sql + f"\nORDER BY {engine.dialect.quote(ROW)}", tables)

    bad = pc.is_valid(result.column(REASON))
    accepted = result.filter(pc.invert(bad)).select([f.name for f in dataset.fields] + [ROW])
    accepted = accepted.cast(accepted_schema(dataset))
    rejected = _rejected(result.filter(bad), table, dataset)
    assert accepted.num_rows + rejected.num_rows == table.num_rows, "every row is accepted or rejected"
    return Validated(accepted, rejected)


def _rejected(bad: pa.Table, source: pa.Table, dataset: Dataset) -> pa.Table:
    """Rejection rows plus the whole raw row as delivered (the quarantine keeps values as given)."""
    fields = bad.column(FIELD).combine_chunks()
    codes = bad.column(REASON).combine_chunks()
    messages = _messages(fields, codes, dataset)
    out = pa.table(
        [bad.column(ROW), fields, codes, messages, bad.column(RAW)],
        schema=REJECTED_SCHEMA,
    )
    positions = pc.index_in(bad.column(ROW), source.column(ROW))
    raw = source.select([f.name for f in dataset.fields]).take(positions)
    for name in raw.column_names:
        out = out.append_column(pa.field(name, pa.string()), raw.column(name).cast(pa.string()))
    return out


def _messages(fields: pa.Array, codes: pa.Array, dataset: Dataset) -> pa.Array:
    if not len(codes):
        return pa.array([], pa.string())
    pairs = pc.binary_join_element_wise(fields, codes, "\x1f")
    unique = pc.unique(pairs)
    text = [_message(dataset, *str(p).split("\x1f")) for p in unique.to_pylist()]
    return pa.array(text, pa.string()).take(pc.index_in(pairs, unique))


def _message(dataset: Dataset, field_name: str, code: str) -> str:
    f = dataset.field(field_name)
    text = f"{f.zh}：{REASONS_ZH[code]}"
    if code == "enum_invalid" and f.values:
        text += "（可选：" + "、".join(f"{k}={v}" for k, v in f.values.items()) + "）"
    elif code == "out_of_range" and f.range:
        text += f"（{_num(f.range[0])}～{_num(f.range[1])}）"
    return text


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
