"""End to end: a simulated county's monthly deliveries through `fangpin exchange import` (issue 12).

A county of 200,000 households (~730,000 persons) on the real villages of 信丰县 (360722), simulated with
the default defects and written as CSV (`fangpin synth --county 360722 --households 200000 --months 2`),
imported on the embedded SQLite with region checks and linkage on, as a county would run it:
- e2e_county_200k_first_month     the first (initial-load) month: the registry is built   target < 180 s
- e2e_county_200k_ordinary_month  the next month on top of it                             target <  60 s
`baseline` is validation alone (read_file + validate of the same files, no registry, no linkage, no
lake), measured in the same run: `ratio` = end to end / validation, what everything around validation
costs. Each measurement runs in a child process (its own peak RSS, os.wait4). FANGPIN_BENCH_SCALE
shrinks the county; at scale 1 each case runs once (minutes), smaller ones three times (the median).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COUNTY = "360722"
HOUSEHOLDS = 200_000
TARGETS_S = {"e2e_county_200k_first_month": 180.0, "e2e_county_200k_ordinary_month": 60.0}
# CPU seconds of the last child: on a shared, loaded machine the wall time mostly measures the others
_cpu: list[float] = []
SRC = str(Path(__file__).resolve().parents[1] / "src")

VALIDATE_ONLY = """
import json, sys, time
from pathlib import Path
from fangpin.lib import divisions
from fangpin.pipeline.catalog import load_catalog
from fangpin.pipeline.engine import DuckDBEngine
from fangpin.pipeline.ingest import period_end
from fangpin.pipeline.readers import read_file
from fangpin.pipeline.validate import validate

folder, period = Path(sys.argv[1]), sys.argv[2]
catalog, engine = load_catalog(), DuckDBEngine()
villages = {d.prefix for d in divisions.read(sys.argv[3]) if d.level == "village"}
began = time.perf_counter()
for path in sorted(p for p in folder.iterdir() if p.stem in catalog):
    ds = catalog[path.stem]
    table = read_file(path, ds, typed=True).table
    validate(table, ds, known_villages=villages, engine=engine, today=period_end(period))
print(json.dumps({"seconds": time.perf_counter() - began}))
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # the embedded SQLite
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["FANGPIN_HOME"] = str(home)
    return env


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """A child process: wall seconds, its own peak RSS in MB, its stdout (CPU seconds: `_cpu`)."""
    began = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    _cpu.append(usage.ru_utime + usage.ru_stime)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args[:6])}… failed:\n{out[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def _fangpin(*args: str) -> list[str]:
    return [sys.executable, "-m", "fangpin.cli", *args]


def _county(home: Path) -> None:
    """A fresh installation with the county's divisions (not timed)."""
    _run(_fangpin("migrate"), _env(home))
    _run(_fangpin("regions", "load", "--county", COUNTY), _env(home))


def _rows(folder: Path) -> int:
    """Rows delivered in the month (the simulator's manifest; files are CSV, some Parquet/Excel)."""
    manifest = json.loads((folder / "_manifest.json").read_text(encoding="utf-8"))
    return sum(int(d["rows"]) for d in manifest["datasets"].values())


def run() -> list[dict[str, Any]]:
    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    households = max(int(HOUSEHOLDS * scale), 500)
    repeats = 1 if households >= 50_000 else 3
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sim = Path(tmp) / "sim"
        synth = ["synth", "--county", COUNTY, "--households", str(households), "--months", "2"]
        _run(
            _fangpin(*synth, "--start", "2026-01", "--seed", "1", "--out", str(sim), "--quiet"),
            _env(Path(tmp)),
        )
        months = sorted(p for p in (sim / "deliveries").iterdir() if p.is_dir())
        timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in TARGETS_S}
        for i in range(repeats):
            home = Path(tmp) / f"home{i}"
            _county(home)
            for name, month in zip(TARGETS_S, months, strict=True):
                seconds, rss, _ = _run(
                    _fangpin("exchange", "import", str(month), "--period", month.name), _env(home)
                )
                timings[name].append((seconds, rss, _cpu[-1]))
        for name, month in zip(TARGETS_S, months, strict=True):
            alone = [
                json.loads(
                    _run(
                        [sys.executable, "-c", VALIDATE_ONLY, str(month), month.name, COUNTY], _env(Path(tmp))
                    )[2]
                )["seconds"]
                for _ in range(repeats)
            ]
            median = statistics.median(s for s, _, _ in timings[name])
            baseline = statistics.median(alone)
            rows = _rows(month)
            out.append(
                {
                    "name": name,
                    "median_s": round(median, 1),
                    "baseline": round(baseline, 1),
                    "ratio": round(median / baseline, 2),
                    "peak_rss_mb": round(max(r for _, r, _ in timings[name]), 1),
                    "cpu_s": round(statistics.median(c for _, _, c in timings[name]), 1),
                    "rows": rows,
                    "rows_per_s": int(rows / median),
                    "households": households,
                    "runs": repeats,
                    # fixed costs (a process, Django, the model) do not shrink with the county: the
                    # target holds at scale 1 only
                    **(
                        {"target_s": TARGETS_S[name], "meets_target": median < TARGETS_S[name]}
                        if scale == 1.0
                        else {"target": f"< {TARGETS_S[name]:.0f} s at scale 1"}
                    ),
                    "database": "sqlite",
                    "scale": scale,
                    "cores": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            )
    return out


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row, ensure_ascii=False))
