"""Benchmarks of fangpin.pipeline ingestion: read → validate (SQL on DuckDB) → commit to the lake.

Cases (FANGPIN_BENCH_SCALE, default 1.0, shrinks the row counts):
- ingest_parquet_fi_microcredit  2,000,000 rows of bank parquet, full validation   target ≥ 1,000,000 rows/s
- ingest_csv_ms_settlement       2,000,000 rows of medical-settlement CSV (events)  target ≥   300,000 rows/s
- ingest_csv_ps_person_10m      10,000,000 persons, police snapshot CSV            target < 120 s, < 6 GB
Each measurement runs in a child process (its own peak RSS). `baseline` is a plain pandas read + the same
checks of the same file, measured in the same run; `ratio` = fangpin median / pandas median (< 1: faster).
Inputs are generated here (vectorised, valid IDs plus ~0.4 % defective ones) into a temporary directory.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fangpin.lib.idcard import CHECK_CHARS, WEIGHTS

CASES: dict[str, tuple[str, str, int, str]] = {
    # name: (dataset, format, rows at scale 1, target)
    "ingest_parquet_fi_microcredit": ("fi_microcredit", "parquet", 2_000_000, "≥1,000,000 rows/s"),
    "ingest_csv_ms_settlement": ("ms_settlement", "csv", 2_000_000, "≥300,000 rows/s"),
    "ingest_csv_ps_person_10m": ("ps_person", "csv", 10_000_000, "<120 s, <6 GB"),
}


PAYMENTS = {"basic_paid": 20_000, "critical_paid": 5_000, "assistance_paid": 2_000, "self_pay": 10_000}


# --- inputs ----------------------------------------------------------------------------------------------


def _ids(n: int, rng: np.random.Generator, unique: bool) -> tuple[pa.Array, np.ndarray]:
    """GB 11643 IDs (county 360722) and their birth dates; unique ones use a day + sequence per row."""
    if unique:
        days = np.arange(n) // 1000
        seq = np.arange(n) % 1000
    else:
        days = rng.integers(0, 365 * 80, n)
        seq = rng.integers(0, 1000, n)
    born = np.datetime64("1940-01-01") + days.astype("timedelta64[D]")
    y = born.astype("datetime64[Y]").astype(np.int64) + 1970
    m = born.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (born - born.astype("datetime64[M]")).astype(np.int64) + 1
    first17 = 360722 * 10**11 + (y * 10000 + m * 100 + d) * 1000 + seq
    total = np.zeros(n, np.int64)
    for i, w in enumerate(WEIGHTS):
        total += (first17 // 10 ** (16 - i)) % 10 * w
    check = pa.DictionaryArray.from_arrays(pa.array(total % 11, pa.int32()), pa.array(list(CHECK_CHARS)))
    ids = pc.binary_join_element_wise(pc.cast(pa.array(first17), pa.string()), check.cast(pa.string()), "")
    # defects: 0.3 % wrong check character, 0.1 % Excel scientific notation
    u = rng.random(n)
    wrong = pc.binary_join_element_wise(pc.utf8_slice_codeunits(ids, 0, 17), pa.scalar("Y"), "")
    ids = pc.if_else(pa.array(u < 0.003), wrong, ids)
    ids = pc.if_else(pa.array((u >= 0.003) & (u < 0.004)), pa.scalar("3.60722E+17"), ids)
    return ids, born


def _choice(values: list[str], n: int, rng: np.random.Generator) -> pa.Array:
    idx = pa.array(rng.integers(0, len(values), n).astype(np.int32))
    return pa.DictionaryArray.from_arrays(idx, pa.array(values)).cast(pa.string())


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _money(n: int, rng: np.random.Generator, high: int) -> pa.Array:
    return _yuan(rng.integers(0, high * 100, n))


def _yuan(cents: np.ndarray) -> pa.Array:
    frac = pc.utf8_lpad(_text(cents % 100), 2, "0")
    return pc.binary_join_element_wise(_text(cents // 100), frac, ".")


def _dates(n: int, rng: np.random.Generator, start: str, days: int) -> pa.Array:
    return pc.cast(
        pa.array(np.datetime64(start) + rng.integers(0, days, n).astype("timedelta64[D]")), pa.string()
    )


def make_input(dataset: str, rows: int, folder: Path) -> Path:
    rng = np.random.default_rng(1)
    n = rows
    if dataset == "ps_person":
        ids, born = _ids(n, rng, unique=True)
        villages = [f"360722{100 + v // 30:03d}{v % 30 + 1:03d}" for v in range(300)]
        table = pa.table(
            {
                "id_number": ids,
                "name": _choice(["吴宏", "曾倩倩", "王伟武", "李勇", "胡倩梅", "施浩金"], n, rng),
                "gender": _choice(["1", "2"], n, rng),
                "birth_date": pc.cast(pa.array(born), pa.string()),
                "household_no": _text(3607221000000000 + np.arange(n) // 4),
                "relation": _choice(["01", "02", "03", "04", "05"], n, rng),
                "village_code": _choice(villages, n, rng),
                "status": _choice(["normal"] * 50 + ["deceased", "moved_out"], n, rng),
                "status_date": pa.nulls(n, pa.string()),
            }
        )
    elif dataset == "ms_settlement":
        ids, _ = _ids(n, rng, unique=False)
        # the payments add up to the total, as in a real settlement (the catalog checks each ≤ the total)
        cents = {k: rng.integers(0, high * 100, n) for k, high in PAYMENTS.items()}
        parts = {k: _yuan(c) for k, c in cents.items()}
        table = pa.table(
            {
                "settlement_id": pc.binary_join_element_wise(
                    pa.scalar("YB"), _text(np.arange(n) + 10**12), ""
                ),
                "id_number": ids,
                "settle_date": _dates(n, rng, "2025-09-01", 365),
                "visit_type": _choice(["inpatient", "outpatient_chronic"], n, rng),
                "total_cost": _yuan(sum(cents.values())),
                **parts,
            }
        )
    else:  # fi_microcredit: banks send typed parquet
        ids, _ = _ids(n, rng, unique=False)
        table = pa.table(
            {
                "loan_id": pc.binary_join_element_wise(pa.scalar("DK"), _text(np.arange(n) + 10**12), ""),
                "id_number": ids,
                "amount_yuan": pa.array(rng.integers(1, 50, n) * 1000.0),
                "due_date": pa.array(
                    np.datetime64("2026-01-01") + rng.integers(0, 1000, n).astype("timedelta64[D]")
                ),
                "status": _choice(["normal", "overdue", "repaid"], n, rng),
            }
        )
    if dataset == "fi_microcredit":
        path = folder / f"{dataset}.parquet"
        pq.write_table(table, path, compression="zstd")
    else:
        path = folder / f"{dataset}.csv"
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return path


# --- the two contenders, each run in a child process ------------------------------------------------------


def run_fangpin(path: Path, dataset: str) -> dict[str, Any]:
    from fangpin.pipeline.catalog import load_catalog
    from fangpin.pipeline.ingest import ingest_file
    from fangpin.pipeline.lake import Lake

    catalog = load_catalog()
    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as root:
        lake = Lake(Path(root), catalog=catalog)
        # warm up on a 1,000-row sample (thread pools, kernels, the engine), as a running server is warm
        sample = _sample(path, Path(root) / "sample", 1000)
        ingest_file(sample, dataset, "2026-07", lake=lake, catalog=catalog, known_villages=None)
        began = time.perf_counter()
        report = ingest_file(
            path,
            dataset,
            "2026-08",
            lake=lake,
            catalog=catalog,
            known_villages=None,
            progress=lambda _ds, stage: stages.setdefault(stage, time.perf_counter() - began),
        )
        seconds = time.perf_counter() - began
    assert report.status == "accepted", report
    return {
        "seconds": seconds,
        "rows": report.read,
        "rejected": report.rejected,
        "stages": {k: round(v, 3) for k, v in stages.items()},
    }


def _sample(path: Path, folder: Path, rows: int) -> Path:
    folder.mkdir()
    out = folder / path.name
    if path.suffix == ".parquet":
        pq.write_table(pq.read_table(path).slice(0, rows), out)
    else:
        with path.open("rb") as src:
            out.write_bytes(b"".join(src.readline() for _ in range(rows + 1)))
    return out


def run_pandas(path: Path, dataset: str) -> dict[str, Any]:
    """A plain pandas read + the same row checks (no lake): the baseline the issue asks to compare."""
    import pandas as pd

    from fangpin.pipeline.catalog import load_catalog

    ds = load_catalog()[dataset]
    began = time.perf_counter()
    if path.suffix == ".parquet":
        df = pd.read_parquet(path).astype(str)
    else:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    reason = pd.Series(np.full(len(df), None, dtype=object), index=df.index)
    for f in reversed(ds.fields):  # later fields first, so the first field's problem wins
        s = df[f.name].str.strip()
        empty = s == ""
        bad = empty & (not f.nullable)
        if f.type == "id":
            shape = s.str.fullmatch(r"\d{17}[\dX]")
            digits = (
                pd.to_numeric(s.str.slice(0, 17).where(shape, "0"), errors="coerce").fillna(0).astype("int64")
            )
            total = sum((digits // 10 ** (16 - i)) % 10 * w for i, w in enumerate(WEIGHTS))
            check = np.array(list(CHECK_CHARS))[(total % 11).to_numpy()]
            born = pd.to_datetime(s.str.slice(6, 14), format="%Y%m%d", errors="coerce")
            bad = bad | ~shape | born.isna() | (s.str.slice(17, 18) != check)
        elif f.type == "enum" and f.values:
            bad = bad | (~empty & ~s.isin(list(f.values)))
        elif f.type == "date":
            bad = bad | (~empty & pd.to_datetime(s, format="%Y-%m-%d", errors="coerce").isna())
        elif f.type in ("money", "int", "float"):
            bad = bad | (~empty & pd.to_numeric(s, errors="coerce").isna())
        elif f.type == "bool":
            bad = bad | (~empty & ~s.str.lower().isin(["true", "false", "1", "0", "是", "否"]))
        reason = reason.where(~bad, f.name)
    ok = reason.isna()
    keys = list(ds.key_fields or ds.field_names)
    dup = df.duplicated(subset=keys) & ok
    accepted = df[ok & ~dup]
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "rows": len(df), "rejected": int(len(df) - len(accepted))}


def _child(kind: str, path: Path, dataset: str) -> dict[str, Any]:
    code = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parent.parent)!r})\n"
        "from benchmarks.bench_ingest import run_fangpin, run_pandas\n"
        f"out = run_{kind}(Path(sys.argv[1]), sys.argv[2])\n"
        "out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), dataset], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run() -> list[dict[str, Any]]:
    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    # province-scale files: raised as a province raises them (the defaults fit a county, docs/security.md)
    os.environ.setdefault("FANGPIN_IMPORT_MAX_ROWS", "20000000")
    os.environ.setdefault("FANGPIN_IMPORT_MAX_CELLS", "1000000000")
    rows_out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (dataset, _fmt, base_rows, target) in CASES.items():
            rows = max(int(base_rows * scale), 1000)
            path = make_input(dataset, rows, Path(tmp))
            repeats = 1 if rows >= 5_000_000 else 3
            ours = [_child("fangpin", path, dataset) for _ in range(repeats)]
            theirs = [_child("pandas", path, dataset) for _ in range(repeats)]
            median = statistics.median(r["seconds"] for r in ours)
            baseline = statistics.median(r["seconds"] for r in theirs)
            rows_out.append(
                {
                    "name": name,
                    "median_s": round(median, 2),
                    "baseline": round(baseline, 2),
                    "ratio": round(median / baseline, 3),
                    "peak_rss_mb": round(max(r["peak_rss_mb"] for r in ours), 1),
                    "rows": ours[0]["rows"],
                    "rows_per_s": int(ours[0]["rows"] / median),
                    "rejected": ours[0]["rejected"],
                    "stages_s": ours[len(ours) // 2]["stages"],
                    "pandas_peak_rss_mb": round(max(r["peak_rss_mb"] for r in theirs), 1),
                    "file_mb": round(path.stat().st_size / 2**20, 1),
                    "target": target,
                    "scale": scale,
                    "cores": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            )
            path.unlink()
    return rows_out


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row, ensure_ascii=False))
    print(
        f"parent peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", file=sys.stderr
    )
