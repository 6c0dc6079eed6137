"""Benchmarks of fangpin.synth: a county (50,000 households × 24 months) and a 10-million-person province
month. FANGPIN_BENCH_SCALE (default 1.0) shrinks both for a quick smoke run."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASELINES = {"synth_county_50k_24m": 60.0, "synth_province_10m_1m": 600.0}


def _child(args: list[str]) -> tuple[float, float]:
    """Run one generation in a child process: wall seconds and the child's peak RSS in MB."""
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        code = "from fangpin.synth.command import main; import sys; raise SystemExit(main(sys.argv[1:]))"
        subprocess.run([sys.executable, "-c", code, "synth", *args, "--out", out, "--quiet"], check=True)
        seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak


def run() -> list[dict[str, Any]]:
    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    cases = {
        "synth_county_50k_24m": (
            ["--county", "360722", "--households", str(max(int(50_000 * scale), 100)), "--months", "24"],
            3 if scale < 0.5 else 1,
        ),
        "synth_province_10m_1m": (
            ["--province", "36", "--persons", str(max(int(10_000_000 * scale), 1000)), "--months", "1"],
            1,
        ),
    }
    rows = []
    for name, (args, repeats) in cases.items():
        timings, peaks = zip(*(_child(args) for _ in range(repeats)), strict=True)
        median = statistics.median(timings)
        baseline = BASELINES[name] * max(scale, 0.01)
        rows.append(
            {
                "name": name,
                "median_s": round(median, 2),
                "baseline": baseline,
                "ratio": round(median / baseline, 3),
                "peak_rss_mb": round(max(peaks), 1),
                "scale": scale,
            }
        )
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    for row in run():
        print(row)  # noqa: T201
