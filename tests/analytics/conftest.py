"""Simulator scenarios for the regional-risk scan: one run with a single injected disaster, one without."""

from __future__ import annotations

from pathlib import Path

import pytest

from fangpin.pipeline.catalog import Catalog, load_catalog
from fangpin.pipeline.ingest import ingest_folder
from fangpin.pipeline.lake import Lake
from fangpin.synth import DefectRates, SynthConfig, generate

SCAN_PERIODS = ("2026-04", "2026-05", "2026-06")
# a village of 信丰县 (360722): the injected flood's seed in the last month
DISASTER_VILLAGE = "360722103203"


def simulate_into_lake(out: Path, catalog: Catalog, **switches: object) -> Lake:
    cfg = SynthConfig(
        households=6000,
        months=len(SCAN_PERIODS),
        start=SCAN_PERIODS[0],
        seed=5,
        defects=DefectRates.none(),
        **switches,  # type: ignore[arg-type]
    )
    generate(cfg, out / "sim", progress=False)
    lake = Lake(out / "lake", catalog=catalog)
    for period in SCAN_PERIODS:
        ingest_folder(
            out / "sim" / "deliveries" / period, period, lake=lake, catalog=catalog, known_villages=None
        )
    return lake


@pytest.fixture(scope="session")
def disaster_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Path]:
    out = tmp_path_factory.mktemp("with_cluster")
    lake = simulate_into_lake(
        out, load_catalog(), disaster_rate=0.0, disaster_at=(SCAN_PERIODS[-1], DISASTER_VILLAGE)
    )
    return lake, out / "sim" / "truth"


@pytest.fixture(scope="session")
def quiet_run(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return simulate_into_lake(tmp_path_factory.mktemp("no_cluster"), load_catalog(), disaster_rate=0.0)
