"""Evaluate on a small simulator run imported through the pipeline (Django-free linking by exact ID)."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from fangpin.pipeline.catalog import Catalog
from fangpin.pipeline.evaluate import evaluate
from fangpin.pipeline.ingest import ingest_folder
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.policy import load_policy
from fangpin.pipeline.screen import screen
from fangpin.synth import DefectRates, SynthConfig, generate

PERIODS = ("2026-08", "2026-09", "2026-10")


def _registry(deliveries: Path) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """Every person the police ever delivered: id_number → (person_key, household_key); household_no → key."""
    persons: dict[str, tuple[int, int]] = {}
    households: dict[str, int] = {}
    for period in PERIODS:
        opts = pcsv.ConvertOptions(column_types={"id_number": pa.string(), "household_no": pa.string()})
        t = pcsv.read_csv(deliveries / period / "ps_person.csv", convert_options=opts)
        for idn, hno in zip(
            t.column("id_number").to_pylist(), t.column("household_no").to_pylist(), strict=True
        ):
            hk = households.setdefault(hno, len(households) + 1)
            persons.setdefault(idn, (len(persons) + 1, hk))
    return persons, households


def _linker(persons: dict[str, tuple[int, int]], households: dict[str, int]):  # type: ignore[no-untyped-def]
    def link(accepted: pa.Table) -> pa.Table:
        n = accepted.num_rows
        if "id_number" in accepted.column_names:
            found = [persons.get(x) if x else None for x in accepted.column("id_number").to_pylist()]
            pk = [f[0] if f else None for f in found]
            hk = [f[1] if f else None for f in found]
        elif "household_no" in accepted.column_names:
            pk = [None] * n
            hk = [households.get(x) if x else None for x in accepted.column("household_no").to_pylist()]
        else:
            pk, hk = [None] * n, [None] * n
        return accepted.append_column("person_key", pa.array(pk, pa.int64())).append_column(
            "household_key", pa.array(hk, pa.int64())
        )

    return link


@pytest.mark.slow
def test_evaluate_on_small_simulator_run(tmp_path: Path, catalog: Catalog) -> None:
    out = tmp_path / "sim"
    generate(
        SynthConfig(households=800, months=3, start="2026-08", seed=3, defects=DefectRates.none()),
        out,
        progress=False,
    )
    persons, households = _registry(out / "deliveries")
    lake = Lake(tmp_path / "lake", catalog=catalog)
    for period in PERIODS:
        ingest_folder(
            out / "deliveries" / period,
            period,
            lake=lake,
            catalog=catalog,
            known_villages=None,
            link=_linker(persons, households),
        )
    result = screen(lake, "2026-10", load_policy())
    report = evaluate(result, out / "truth", "2026-10")
    assert report.households == result.all_scored.num_rows > 700
    assert report.targets > 0
    assert 0 <= report.found <= min(report.targets, report.warnings)
    assert report.warnings == pc.sum(pc.equal(result.warnings.column("prompt"), "verify")).as_py()
    assert report.recall > 0.3 and report.candidates_found >= report.found
    assert not math.isnan(report.precision)
    reached = [n for n in report.curve.values() if n is not None]
    assert reached == sorted(reached)
    assert sum(b.targets for b in report.by_category) == report.targets
    text = report.to_text()
    assert "recall" in text and "召回率" in text
