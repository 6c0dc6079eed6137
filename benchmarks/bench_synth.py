"""Benchmarks of fangpin.synth: a county (50,000 households × 24 months) and a 10-million-person province
month. FANGPIN_BENCH_SCALE (default 1.0) shrinks both for a quick smoke run.

Each row compares the generation with a baseline measured in the same run (machines are noisy): the I/O
floor, i.e. the time pyarrow needs to write tables of the same shape — the same files, formats, rows and
columns, CSV cells of the same average width — filled with random data. `ratio` = median / floor: what the
simulation itself costs on top of writing its output. The issue's targets are reported next to it
(`target_s`, `meets_target`), and the peak RSS of each generation child is measured on its own
(os.wait4 rusage of that child, not the cumulative RUSAGE_CHILDREN maximum).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# the targets at scale 1 (seconds; the province also has a memory target)
TARGETS_S = {"synth_county_50k_24m": 60.0, "synth_province_10m_1m": 600.0}
RSS_TARGETS_MB = {"synth_province_10m_1m": 8000.0}
# a case quicker than this is run 3 times and the median reported
REPEAT_BELOW_S = 30.0
CHILD_CODE = "from fangpin.synth.command import main; import sys; raise SystemExit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class Shape:
    """One output file as the floor re-creates it."""

    fmt: str  # csv | parquet (xlsx files are written as CSV by the floor)
    rows: int
    columns: int
    cell_bytes: int  # average width of a CSV cell (digits of the random stand-in)


def _child(args: list[str], out: Path) -> tuple[float, float]:
    """One generation in a child process: wall seconds and that child's own peak RSS in MB."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD_CODE, "synth", *args, "--out", str(out), "--quiet"], env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"fangpin synth {' '.join(args)} exited with {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024  # Linux: KB


def shapes(out: Path) -> list[Shape]:
    """Files, rows and columns of a generated output folder (deliveries and truth)."""
    found: list[Shape] = []
    for manifest_path in sorted((out / "deliveries").glob("*/_manifest.json")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for info in manifest["datasets"].values():
            path = manifest_path.parent / info["file"]
            rows = int(info["rows"])
            if info["format"] == "parquet":
                found.append(Shape("parquet", rows, pq.ParquetFile(path).metadata.num_columns, 0))
                continue
            if info["format"] == "csv":
                with path.open("rb") as f:
                    columns = f.readline().count(b",") + 1
            else:  # the water bureau's spreadsheet
                from openpyxl import load_workbook

                columns = int(load_workbook(path, read_only=True).active.max_column or 1)
            width = path.stat().st_size / max(rows * columns, 1)
            found.append(Shape("csv", rows, columns, int(min(max(round(width) - 1, 1), 18))))
    for path in sorted((out / "truth").glob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        found.append(Shape("parquet", meta.num_rows, meta.num_columns, 0))
    return found


def _random_table(shape: Shape, rng: np.random.Generator) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for i in range(shape.columns):
        numbers = pa.array(rng.integers(0, 10**shape.cell_bytes if shape.fmt == "csv" else 2**40, shape.rows))
        cols[f"c{i}"] = pc.cast(numbers, pa.string()) if shape.fmt == "csv" else numbers
    return pa.table(cols)


def io_floor(files: list[Shape], seed: int = 0) -> float:
    """Seconds to write same-shaped random tables with pyarrow (only the writes are timed)."""
    rng = np.random.default_rng(seed)
    spent = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, shape in enumerate(files):
            table = _random_table(shape, rng)
            path = Path(tmp) / f"f{i}"
            began = time.perf_counter()
            if shape.fmt == "csv":
                pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
            else:
                pq.write_table(table, path)
            spent += time.perf_counter() - began
            path.unlink()
            del table
    return spent


def _case(name: str, args: list[str], scale: float) -> dict[str, Any]:
    timings: list[float] = []
    peaks: list[float] = []
    files: list[Shape] = []
    while len(timings) < 1 or (len(timings) < 3 and min(timings) < REPEAT_BELOW_S):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, peak = _child(args, Path(tmp))
            if not files:
                files = shapes(Path(tmp))
        timings.append(seconds)
        peaks.append(peak)
    floors = [io_floor(files)]
    while len(floors) < 3 and sum(floors) < REPEAT_BELOW_S:
        floors.append(io_floor(files))
    median = statistics.median(timings)
    floor = statistics.median(floors)
    target = TARGETS_S[name] * max(scale, 0.01)
    row: dict[str, Any] = {
        "name": name,
        "median_s": round(median, 2),
        "baseline": round(floor, 2),
        "ratio": round(median / max(floor, 1e-9), 2),
        "target_s": round(target, 2),
        "meets_target": median <= target,
        "peak_rss_mb": round(max(peaks), 1),
        "runs": len(timings),
        "baseline_runs": len(floors),
        "baseline_kind": "pyarrow write of same-shaped random tables (I/O floor)",
        "files": len(files),
        "rows_written": sum(f.rows for f in files),
        "scale": scale,
    }
    if name in RSS_TARGETS_MB and scale >= 1.0:
        row["rss_target_mb"] = RSS_TARGETS_MB[name]
        row["meets_rss_target"] = max(peaks) <= RSS_TARGETS_MB[name]
    return row


def run() -> list[dict[str, Any]]:
    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    cases = {
        "synth_county_50k_24m": [
            "--county",
            "360722",
            "--households",
            str(max(int(50_000 * scale), 100)),
            "--months",
            "24",
        ],
        "synth_province_10m_1m": [
            "--province",
            "36",
            "--persons",
            str(max(int(10_000_000 * scale), 1000)),
            "--months",
            "1",
        ],
    }
    return [_case(name, args, scale) for name, args in cases.items()]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    for result in run():
        print(result)  # noqa: T201
