"""Realistic defects of department files, injected at configured rates and every one recorded."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.idcard import check_char, with_wrong_check_char
from fangpin.synth import events as ev
from fangpin.synth import names
from fangpin.synth.catalog import Dataset
from fangpin.synth.config import DefectRates

# kinds recorded in truth/defects.parquet; the ID kinds equal fangpin.lib.idcard.IdProblem values
ID_CHECK_CHAR = "id_check_char"
ID_EXCEL_MANGLED = "id_excel_mangled"
ID_MISSING = "id_missing"
NAME_TYPO = "name_typo"
DUPLICATE_EVENT = "duplicate_event"
GBK_ENCODING = "gbk_encoding"
LATE_DATASET = "late_dataset"
POLICE_ID_BROKEN = "police_id_broken"  # the police snapshot's own ID broken, month after month
ZH_HEADERS = "zh_headers"

# file defects land on datasets that every month has, so a plan never points at a missing file
FILE_DEFECT_DATASETS = (
    "hc_disease",
    "df_disability",
    "ed_student",
    "hs_house_safety",
    "ag_roster",
    "ps_vehicle",
    "hr_employment",
    "hr_pension",
)
LATE_CANDIDATES = ("em_accident", "ms_settlement", "self_declaration")


@dataclass
class Plan:
    gbk: set[tuple[int, str]] = field(default_factory=set)
    zh: set[tuple[int, str]] = field(default_factory=set)
    late: set[tuple[int, str]] = field(default_factory=set)


def plan(rates: DefectRates, months: int, rng: np.random.Generator) -> Plan:
    p = Plan()
    cells = [(t, d) for t in range(months) for d in FILE_DEFECT_DATASETS]
    picks = rng.permutation(len(cells))
    chosen = [cells[i] for i in picks[: rates.gbk_files + rates.zh_header_files]]
    p.gbk = set(chosen[: rates.gbk_files])
    p.zh = set(chosen[rates.gbk_files :])
    if months >= 2:
        for _ in range(rates.late_datasets):
            p.late.add(
                (
                    int(rng.integers(0, months - 1)),
                    LATE_CANDIDATES[int(rng.integers(0, len(LATE_CANDIDATES)))],
                )
            )
    return p


class Injector:
    def __init__(self, rates: DefectRates, rng: np.random.Generator) -> None:
        self.rates = rates
        self.rng = rng
        self.records: list[dict[str, Any]] = []

    def record(
        self,
        folder: str,
        dataset: str,
        rows: Any,
        keys: Any,
        field_name: str,
        original: Any,
        injected: Any,
        kind: str,
    ) -> None:
        n = len(rows)
        if n:
            self.records.append(
                {
                    "period": np.full(n, folder, object),
                    "dataset": np.full(n, dataset, object),
                    "row": np.asarray(rows, np.int64),
                    "key": np.asarray(keys, object),
                    "field": np.full(n, field_name, object),
                    "original": np.asarray(original, object),
                    "injected": np.asarray(injected, object),
                    "kind": np.full(n, kind, object),
                }
            )

    def rows(self, folder: str, ds: Dataset, table: pa.Table) -> pa.Table:
        """ID defects (check char, Excel mangling, missing) and name typos, on row subsets only."""
        n = table.num_rows
        id_field = ds.id_field
        if not n or not id_field:
            return table
        r = self.rates
        u = self.rng.random(n)
        kind = np.select(
            [
                u < r.id_check_char,
                u < r.id_check_char + r.id_excel_mangled,
                u < r.id_check_char + r.id_excel_mangled + r.id_missing,
            ],
            [1, 2, 3],
            0,
        )
        rows = np.flatnonzero(kind)
        key_name = ds.key_fields[0] if ds.key_fields else id_field
        if len(rows):
            col = ev.whole(table.column(id_field))
            original = col.take(pa.array(rows)).to_pylist()
            keys = ev.whole(table.column(key_name)).take(pa.array(rows)).to_pylist()
            injected: list[str | None] = []
            for k, value in zip(kind[rows], original, strict=True):
                injected.append(self._mangle(int(k), value))
            mask = np.zeros(n, bool)
            mask[rows] = True
            new = pc.replace_with_mask(col, pa.array(mask), pa.array(injected, pa.string()))
            table = table.set_column(table.schema.get_field_index(id_field), id_field, new)
            for code, label in ((1, ID_CHECK_CHAR), (2, ID_EXCEL_MANGLED), (3, ID_MISSING)):
                sel = kind[rows] == code
                self.record(
                    folder,
                    ds.name,
                    rows[sel],
                    np.asarray(keys, object)[sel],
                    id_field,
                    np.asarray(original, object)[sel],
                    np.asarray(injected, object)[sel],
                    label,
                )
        if ds.name == "ps_person" and r.police_id_broken > 0:
            table = self._police_broken(folder, table, set(rows.tolist()))
        if ds.name == "ps_person" and r.name_typo > 0:
            rows = np.flatnonzero(self.rng.random(n) < r.name_typo)
            if len(rows):
                col = ev.whole(table.column("name"))
                original = col.take(pa.array(rows)).to_pylist()
                injected_names = [names.typo(v, self.rng) for v in original]
                keys = ev.whole(table.column("id_number")).take(pa.array(rows)).to_pylist()
                mask = np.zeros(n, bool)
                mask[rows] = True
                table = table.set_column(
                    1,
                    "name",
                    pc.replace_with_mask(col, pa.array(mask), pa.array(injected_names, pa.string())),
                )
                self.record(folder, ds.name, rows, keys, "name", original, injected_names, NAME_TYPO)
        return table

    def _police_broken(self, folder: str, table: pa.Table, hit: set[int]) -> pa.Table:
        """The same persons' IDs broken the same way in every month's police snapshot: who is picked and
        which wrong check character depend on the ID alone (a hash), not on the month or the stream."""
        col = ev.whole(table.column("id_number"))
        values = col.to_pylist()
        # rows another ID defect hit this month keep that one
        picks = [
            (i, v)
            for i, v in enumerate(values)
            if v and i not in hit and _share(v) < self.rates.police_id_broken
        ]
        if not picks:
            return table
        rows = np.array([i for i, _ in picks], np.int64)
        original = [v for _, v in picks]
        injected = [with_wrong_check_char(v, int(_share(v[::-1]) * 10)) for v in original]
        mask = np.zeros(table.num_rows, bool)
        mask[rows] = True
        new = pc.replace_with_mask(col, pa.array(mask), pa.array(injected, pa.string()))
        table = table.set_column(table.schema.get_field_index("id_number"), "id_number", new)
        self.record(folder, "ps_person", rows, original, "id_number", original, injected, POLICE_ID_BROKEN)
        return table

    def _mangle(self, kind: int, value: str | None) -> str | None:
        if value is None or kind == 3:
            return "" if kind == 3 else value
        if kind == 1:
            return with_wrong_check_char(value, int(self.rng.integers(0, 10)))
        # Excel keeps 15 significant digits: either shown in scientific notation or padded with 000
        if self.rng.random() < 0.5:
            return _scientific(value)
        padded = value[:15] + "000"
        if check_char(padded[:17]) != padded[17]:
            return padded
        # the check character fits by chance: Excel does not care (a valid-looking ID, often contradicting
        # the row's gender); `id_excel_valid_looking` = 0 shows these in E-notation instead
        return padded if self.rng.random() < self.rates.id_excel_valid_looking else _scientific(value)

    def duplicates(self, folder: str, ds: Dataset, table: pa.Table, previous: pa.Table | None) -> pa.Table:
        """Re-deliver some event rows of the previous delivery (or of this one) as exact duplicates."""
        source = previous if previous is not None and previous.num_rows else table
        k = int(self.rng.binomial(table.num_rows, self.rates.duplicate_event)) if table.num_rows else 0
        k = min(k, source.num_rows)
        if not k:
            return table
        pick = np.sort(self.rng.choice(source.num_rows, k, replace=False))
        extra = source.take(pa.array(pick))
        rows = np.arange(table.num_rows, table.num_rows + k)
        key_name = ds.key_fields[0] if ds.key_fields else (ds.id_field or ds.fields[0].name)
        keys = extra.column(key_name).to_pylist()
        self.record(folder, ds.name, rows, keys, key_name, keys, keys, DUPLICATE_EVENT)
        return pa.concat_tables([table, extra.cast(table.schema)])

    def table(self) -> pa.Table:
        cols = ["period", "dataset", "row", "key", "field", "original", "injected", "kind"]
        if not self.records:
            return pa.table({c: pa.array([], pa.int64() if c == "row" else pa.string()) for c in cols})
        data = {c: np.concatenate([r[c] for r in self.records]) for c in cols}
        return pa.table({c: pa.array(data[c], pa.int64() if c == "row" else pa.string()) for c in cols})


def _share(value: str) -> float:
    """A stable number in [0, 1) for a string (the same in every run and month)."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big") / 2.0**64


def _scientific(value: str) -> str:
    """How Excel shows an 18-digit number in a General cell: 3.60722E+17."""
    digits = value[:6].rstrip("0") or value[0]
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}E+17"
