"""Import of delivery files: read → validate → (link) → commit, with one report per file.

The Django `exchange` app calls `ingest_file` / `ingest_folder` and stores the IngestReport; nothing here
knows about Django. Re-importing the same bytes for the same (dataset, period) changes nothing.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.periods import check_period
from fangpin.pipeline import id_repair
from fangpin.pipeline.catalog import Catalog, Dataset
from fangpin.pipeline.engine import Engine
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.readers import FORMATS, ROW, DeliveryRejected, read_file
from fangpin.pipeline.validate import reason_counts, validate

Status = Literal["accepted", "duplicate", "rejected_whole"]
Progress = Callable[[str, str], None]  # (dataset, stage) with stage in read/validate/link/commit/done
Link = Callable[[pa.Table], pa.Table]
Missing = Callable[[], tuple[str, str] | None]
# A link step may refuse rows validation accepted (the registry: a gender contradicting the ID…): it
# sets these columns on them (NULL elsewhere) and they join the quarantine with the rejected rows.
REFUSED_FIELD, REFUSED_REASON, REFUSED_MESSAGE = "_refused_field", "_refused_reason", "_refused_zh"


@dataclass(frozen=True)
class IngestReport:
    delivery_id: str | None
    dataset: str
    period: str
    content_hash: str
    status: Status
    read: int = 0
    accepted: int = 0  # rows committed (after dropping events already in the lake)
    rejected: int = 0
    duplicates: int = 0  # events already delivered earlier (not an error)
    reasons: dict[str, int] = field(default_factory=dict)
    # per field: stored rows whose enum value came as its Chinese label (住院) and was stored as the code
    normalized: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    header_style: str | None = None
    message_zh: str = ""
    code: str | None = (
        None  # why a whole file was refused: encoding, schema, malformed, format, unknown_dataset…
    )
    file: str = ""
    extra_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class _File:
    dataset: str
    period: str
    content_hash: str
    file: str

    def report(self, delivery_id: str | None, status: Status, **details: Any) -> IngestReport:
        return IngestReport(
            delivery_id,
            dataset=self.dataset,
            period=self.period,
            content_hash=self.content_hash,
            file=self.file,
            status=status,
            **details,
        )


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def period_end(period: str) -> dt.date:
    year, month = (int(x) for x in check_period(period).split("-"))
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def ingest_file(
    path: Path,
    dataset_name: str,
    period: str,
    *,
    lake: Lake,
    catalog: Catalog,
    known_villages: set[str] | pa.Array | None,
    link: Link | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
    missing: Missing | None = None,
) -> IngestReport:
    """Import one delivery file for `period` (YYYY-MM) into `lake`. `missing`: what the file needs and
    is not loaded yet (code, Chinese reason), asked once the file itself is readable: it is refused whole."""
    path = Path(path)
    check_period(period)
    notify = progress or (lambda _ds, _stage: None)
    lake.recover()
    content_hash = file_hash(path)
    base = _File(dataset_name, period, content_hash, path.name)
    if dataset_name not in catalog:
        return base.report(
            None, "rejected_whole", code="unknown_dataset", message_zh=f"未知的数据集：{dataset_name}"
        )
    existing = lake.find(dataset_name, period, content_hash)
    if existing is not None:
        return _duplicate(lake, existing, base)
    dataset = catalog[dataset_name]
    notify(dataset_name, "read")
    try:
        result = read_file(path, dataset, typed=True)
    except DeliveryRejected as exc:
        return base.report(None, "rejected_whole", code=exc.code, message_zh=exc.message_zh)
    needed = missing() if missing is not None else None
    if needed is not None:
        return base.report(None, "rejected_whole", code=needed[0], message_zh=needed[1])
    notify(dataset_name, "validate")
    # an ID cannot be born after the period it is delivered for; today bounds real-time imports
    limit = max(period_end(period), dt.datetime.now(dt.UTC).date())
    validated = validate(
        result.table,
        dataset,
        known_villages=known_villages,
        engine=engine or lake.engine,
        today=limit,
        period_end=period_end(period),
    )
    read_rows, reasons, rejected = result.table.num_rows, validated.reasons, validated.rejected
    normalized = validated.normalized
    accepted = validated.accepted
    held: id_repair.Held | None = None
    if link is not None:  # rows rejected only for their ID go to the link step (id_repair)

        def revalidate(rows: pa.Table, lenient: Dataset) -> tuple[pa.Table, pa.Table]:
            again = validate(
                rows,
                lenient,
                known_villages=known_villages,
                engine=engine or lake.engine,
                today=limit,
                period_end=period_end(period),
            )
            return again.accepted, again.rejected

        held = id_repair.hand_to_linkage(result.table, dataset, accepted, rejected, revalidate)
        accepted = held.accepted
    # drop the raw text before linking and writing: on a 10-million-row file it is ~1 GB
    result = replace(result, table=result.table.slice(0, 0))
    del validated
    if link is not None:
        assert held is not None
        notify(dataset_name, "link")
        linked = link(accepted)
        if linked.num_rows != accepted.num_rows:
            raise ValueError("link() must add columns, not add or drop rows")
        assert held is not None  # a link step always has the broken-ID hand-off
        accepted, rejected = id_repair.settle(linked, held)
        accepted, rejected = _quarantine_refused(accepted, rejected, dataset)
        reasons = reason_counts(rejected)
    notify(dataset_name, "commit")
    delivery_id = lake.new_delivery_id(dataset_name, period)
    committed = lake.commit(delivery_id, dataset_name, period, content_hash, accepted, rejected, spec=dataset)
    if committed.existing is not None:  # the same file was committed by a concurrent import
        return _duplicate(lake, committed.existing, base)
    notify(dataset_name, "done")
    notes = [f"已接收{committed.rows}行"]
    if rejected.num_rows:
        notes.append(f"退回{rejected.num_rows}行")
    if normalized:
        notes.append(f"{sum(normalized.values())}个代码以中文名称填写，已按代码表转换")
    if held is not None and held.sent:
        notes.append(f"身份号码有误的{held.sent}行已按姓名、出生日期等关联本人（无法确定本人的随退回行列出）")
    if committed.duplicates:
        notes.append(f"{committed.duplicates}行为此前已报送的重复记录")
    if result.extra_columns:
        notes.append("忽略未知字段：" + "、".join(result.extra_columns))
    return base.report(
        delivery_id,
        "accepted",
        read=read_rows,
        accepted=committed.rows,
        rejected=rejected.num_rows,
        duplicates=committed.duplicates,
        reasons=reasons,
        normalized=normalized,
        encoding=result.encoding,
        header_style=result.header_style,
        message_zh="；".join(notes),
        extra_columns=result.extra_columns,
    )


def _quarantine_refused(linked: pa.Table, rejected: pa.Table, dataset: Dataset) -> tuple[pa.Table, pa.Table]:
    """Rows the link step refused move from `linked` to `rejected` (its schema: the row's values as
    text, here the accepted values, since the raw text is gone by then)."""
    if REFUSED_REASON not in linked.column_names:
        return linked, rejected
    refused = pc.is_valid(linked.column(REFUSED_REASON))
    extra = [REFUSED_FIELD, REFUSED_REASON, REFUSED_MESSAGE]
    accepted = linked.filter(pc.invert(refused)).drop_columns(extra)
    bad = linked.filter(refused)
    if not bad.num_rows:
        return accepted, rejected
    columns = {
        ROW: bad.column(ROW),
        "field": bad.column(REFUSED_FIELD),
        "reason_code": bad.column(REFUSED_REASON),
        "message_zh": bad.column(REFUSED_MESSAGE),
    }
    text = {f.name: pc.cast(bad.column(f.name), pa.string()) for f in dataset.fields}
    raw_value = pa.nulls(bad.num_rows, pa.string())
    for name, values in text.items():
        raw_value = pc.if_else(pc.equal(bad.column(REFUSED_FIELD), name), values, raw_value)
    moved = pa.table({**columns, "raw_value": raw_value, **text}).cast(rejected.schema)
    return accepted, pa.concat_tables([rejected, moved]).sort_by(ROW)


def _duplicate(lake: Lake, delivery_id: str, base: _File) -> IngestReport:
    record = next(r for r in lake.deliveries(base.dataset) if r.delivery_id == delivery_id)
    return base.report(
        delivery_id,
        "duplicate",
        read=record.rows + record.rejected + record.duplicates,
        accepted=record.rows,
        rejected=record.rejected,
        duplicates=record.duplicates,
        # The pipeline knows no display time zone: say which one the time is in.
        message_zh=f"该文件已于 {record.committed_at[:19].replace('T', ' ')} UTC 导入（{delivery_id}），本次未作改动",
    )


def ingest_folder(
    folder: Path,
    period: str,
    *,
    lake: Lake,
    catalog: Catalog,
    known_villages: set[str] | pa.Array | None,
    link: Link | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> list[IngestReport]:
    """Import a delivery folder of `<dataset>.<csv|xlsx|parquet>` files; every other file is reported.

    Names starting with `_` or `.` (the simulator's _manifest.json, editor files) are skipped.
    """
    reports: list[IngestReport] = []
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
    stems: dict[str, int] = {}
    for p in files:
        stems[p.stem] = stems.get(p.stem, 0) + 1
    for p in files:
        fmt = p.suffix.lower().lstrip(".")
        base = _File(p.stem, period, file_hash(p), p.name)
        if fmt not in FORMATS or p.stem not in catalog:
            message = f"无法识别的文件：{p.name}（应为 数据集名.csv/.xlsx/.parquet）"
            reports.append(base.report(None, "rejected_whole", code="unknown_dataset", message_zh=message))
            continue
        if stems[p.stem] > 1:
            message = f"数据集{p.stem}在同一批次中有多个文件，请只保留一个"
            reports.append(base.report(None, "rejected_whole", code="ambiguous_file", message_zh=message))
            continue
        reports.append(
            ingest_file(
                p,
                p.stem,
                period,
                lake=lake,
                catalog=catalog,
                known_villages=known_villages,
                link=link,
                progress=progress,
                engine=engine,
            )
        )
    return reports
