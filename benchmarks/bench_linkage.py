"""Benchmark of fangpin.pipeline.linkage on one simulated county delivery month.

Full scale (FANGPIN_BENCH_SCALE=1.0) = a 50,000-household county; every person-keyed row of the month is
linked to the registry. `linkage_residue` is the shipped design (exact ID set-based, Splink on the residue
only); its baseline, measured in the same run, is `linkage_all_rows_splink` (Splink scoring every row).
The model is trained once beforehand (`linkage_train`, not part of either timing).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    timings = []
    result: Any = None
    for _ in range(repeats):
        began = time.perf_counter()
        result = fn()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings), result


def run() -> list[dict[str, Any]]:
    from fangpin.pipeline.linkage import LinkSettings, link, train_model
    from fangpin.pipeline.linkage_eval import (
        _metrics,
        _score_month,
        labelled_from_month,
        read_synth_month,
        registry_from_synth,
    )
    from fangpin.synth.config import SynthConfig
    from fangpin.synth.run import generate

    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    households = max(int(50_000 * scale), 300)
    repeats = 3  # the residue run is cheap: always a median of 3
    base_repeats = 3 if scale <= 0.2 else 1  # Splink on every row of a full county month takes minutes
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(
            SynthConfig(county="360722", households=households, months=1, start="2026-08", seed=1),
            out,
            progress=False,
        )
        period = "2026-08"
        registry = registry_from_synth(out)
        month = read_synth_month(out, period)
        defects = pq.read_table(out / "truth" / "defects.parquet")
        train_s, model = _timed(lambda: train_model(registry, labelled_from_month(month, registry)), 1)
        fields = list(month.fields)

        def residue() -> Any:
            return link(month.records, registry, dataset_fields=fields, settings=LinkSettings(model=model))

        def all_rows() -> Any:
            return link(
                month.records,
                registry,
                dataset_fields=fields,
                settings=LinkSettings(model=model, all_rows=True, prior_known=0.99),
            )

        # the residue first: ru_maxrss is the process peak so far, so its peak is not the baseline's
        res_s, res_result = _timed(residue, repeats)
        res_peak = _peak_mb()
        base_s, base_result = _timed(all_rows, base_repeats)
        base_peak = _peak_mb()
        common = {
            "scale": scale,
            "households": households,
            "registry": registry.num_rows,
            "rows": month.records.num_rows,
        }
        for name, seconds, result, peak, runs in (
            ("linkage_all_rows_splink", base_s, base_result, base_peak, base_repeats),
            ("linkage_residue", res_s, res_result, res_peak, repeats),
        ):
            m = _metrics(
                _score_month(month, registry, defects, result),
                month.records.num_rows,
                seconds,
                seconds,
                model,
            )
            rows.append(
                {
                    "name": name,
                    "median_s": round(seconds, 3),
                    "baseline": round(base_s, 3),
                    "ratio": round(seconds / base_s, 3),
                    "speedup": round(base_s / seconds, 2),
                    "peak_rss_mb": round(peak, 1),
                    "runs": runs,
                    "precision": round(m.precision, 5),
                    "recall_linkable": round(m.recall, 5),
                    "recall_all_defective": round(m.recall_all, 5),
                    "defective": m.extra["n_defective"],
                    "linkable": m.n_linkable,
                    "review": m.n_review,
                    "links": result.links.num_rows,
                    **common,
                }
            )
        rows.append(
            {
                "name": "linkage_train",
                "median_s": round(train_s, 3),
                "baseline": round(base_s, 3),
                "ratio": round(train_s / base_s, 3),
                "peak_rss_mb": round(_peak_mb(), 1),
                "runs": 1,
                **common,
            }
        )
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    for row in run():
        print(row)
