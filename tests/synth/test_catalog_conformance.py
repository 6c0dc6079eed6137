"""Every generated file follows the exchange catalog, except rows recorded as injected defects."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from openpyxl import load_workbook

from fangpin.lib import idcard
from fangpin.synth.catalog import load
from fangpin.synth.config import SynthSummary


def _read(path: Path, encoding: str) -> list[dict[str, object]]:
    if path.suffix == ".parquet":
        rows: list[dict[str, object]] = pq.read_table(path).to_pylist()
        return rows
    if path.suffix == ".xlsx":
        ws = load_workbook(path, read_only=True).active
        values = list(ws.iter_rows(values_only=True))
        return [dict(zip(values[0], r, strict=True)) for r in values[1:]]
    text = path.read_bytes().decode(encoding)
    columns = text.splitlines()[0].replace('"', "").split(",")
    table = pacsv.read_csv(
        io.BytesIO(text.encode("utf-8")),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=True
        ),
    )
    return table.to_pylist()


def _valid(ftype: str, value: object, values: tuple[str, ...], rng: tuple[float, float] | None) -> bool:
    if ftype == "id":
        return isinstance(value, str) and idcard.problem(value, dt.date(2030, 1, 1)) is None
    if ftype == "enum":
        return str(value) in values
    if ftype == "date":
        if isinstance(value, dt.date):
            return True
        dt.date.fromisoformat(str(value))
        return len(str(value)) == 10
    if ftype == "money":
        text = str(value)
        return float(text) >= 0 and (
            isinstance(value, float) or "." not in text or len(text.split(".")[1]) <= 2
        )
    if ftype == "int":
        return int(str(value)) == float(str(value))
    if ftype == "bool":
        return str(value).lower() in ("true", "false")
    if ftype == "float":
        x = float(str(value))
        return rng is None or rng[0] <= x <= rng[1]
    return isinstance(value, str) and value != ""


def test_it_follows_the_catalog_to_the_letter(small_run: tuple[Path, SynthSummary]) -> None:
    out, summary = small_run
    catalog = load()
    defects = pq.read_table(out / "truth" / "defects.parquet").to_pylist()
    exempt = {(d["period"], d["dataset"], d["row"], d["field"]): d for d in defects if d["row"] >= 0}
    seen: set[str] = set()
    for folder in sorted((out / "deliveries").iterdir()):
        manifest = json.loads((folder / "_manifest.json").read_text(encoding="utf-8"))
        files = {p.stem: p for p in folder.iterdir() if p.name != "_manifest.json"}
        assert set(files) == set(manifest["datasets"])
        for name, path in files.items():
            assert name in catalog, name
            ds = catalog[name]
            info = manifest["datasets"][name]
            rows = _read(path, "gbk" if info["encoding"] == "gbk" else "utf-8")
            assert len(rows) == info["rows"]
            expected = [f.zh if info["header"] == "zh" else f.name for f in ds.fields]
            if rows:
                assert list(rows[0]) == expected, (folder.name, name)
            for i, row in enumerate(rows):
                for f, column in zip(ds.fields, expected, strict=True):
                    value = row[column]
                    defect = exempt.get((folder.name, name, i, f.name))
                    if defect is not None:
                        assert (value or "") == (defect["injected"] or ""), (folder.name, name, i)
                        continue
                    if value is None or value == "":
                        assert f.nullable, (folder.name, name, i, f.name)
                        continue
                    assert _valid(f.type, value, f.values, f.range), (folder.name, name, i, f.name, value)
            seen.add(name)
    # every dataset of the catalog is delivered at least once
    assert seen == set(catalog)
    assert summary.households == 500


def test_it_records_file_level_defects(small_run: tuple[Path, SynthSummary]) -> None:
    out, _ = small_run
    kinds = pq.read_table(out / "truth" / "defects.parquet").column("kind").to_pylist()
    for kind in ("gbk_encoding", "zh_headers", "late_dataset", "id_check_char", "duplicate_event"):
        assert kind in kinds
    late = [
        d for d in pq.read_table(out / "truth" / "defects.parquet").to_pylist() if d["kind"] == "late_dataset"
    ][0]
    manifest = json.loads(
        (out / "deliveries" / late["injected"] / "_manifest.json").read_text(encoding="utf-8")
    )
    assert manifest["datasets"][late["dataset"]]["late"] is True
    assert late["period"] in manifest["datasets"][late["dataset"]]["late_periods"]


def test_it_uses_16_digit_household_numbers_on_real_villages(small_run: tuple[Path, SynthSummary]) -> None:
    out, _ = small_run
    households = pq.read_table(out / "truth" / "households.parquet").to_pylist()
    for h in households:
        assert len(h["household_no"]) == 16 and h["household_no"][:12] == h["village_code"]
        assert h["village_code"].startswith("360722")
