"""Run every benchmarks/bench_*.py module's `run()` and print one table.

Each row: the median of the measured runs, the baseline it is compared with (measured in the same run
where the benchmark defines one, else the issue's target), the ratio, and the peak memory. Machines are
noisy: read the ratios and medians, not single timings. FANGPIN_BENCH_SCALE shrinks every case.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any


def notes(row: dict[str, Any]) -> str:
    """What each benchmark reports beyond the timing: throughput, quality, and whether its target holds."""
    parts = []
    if "rows_per_s" in row:
        parts.append(f"{row['rows_per_s']:,} rows/s")
    if "speedup" in row:
        parts.append(f"{row['speedup']}× faster than the baseline")
    parts += [f"{key} {row[key]}" for key in ("precision", "recall_linkable") if key in row]
    if "meets_target" in row:
        parts.append(f"target {row.get('target_s', '')} s: {'met' if row['meets_target'] else 'NOT met'}")
    elif "target" in row:
        parts.append(f"target: {row['target']}")
    return "; ".join(parts)


def main(argv: list[str]) -> int:
    wanted = set(argv)
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    rows: list[dict[str, Any]] = []
    for name in modules:
        if wanted and name not in wanted:
            continue
        print(f"… {name}", file=sys.stderr, flush=True)
        rows.extend(importlib.import_module(f"benchmarks.{name}").run())
    header = f"{'benchmark':<32} {'median s':>10} {'baseline':>10} {'ratio':>8} {'peak MB':>9}  notes"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['name']:<32} {row['median_s']:>10} {row['baseline']:>10} {row['ratio']:>8} "
            f"{row.get('peak_rss_mb', ''):>9}  {notes(row)}"
        )
    Path("var").mkdir(exist_ok=True)
    Path("var/bench-results.json").write_text(
        json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
