from __future__ import annotations

from pathlib import Path

import pytest

from fangpin.synth import DefectRates, SynthConfig, generate
from fangpin.synth.config import SynthSummary


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    """500 households × 3 months with defects on (the catalog conformance run)."""
    out = tmp_path_factory.mktemp("synth_small")
    summary = generate(SynthConfig(households=500, months=3, seed=3), out, progress=False)
    return out, summary


@pytest.fixture(scope="session")
def medium_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    """20,000 households × 14 months: distributions and defect rates."""
    out = tmp_path_factory.mktemp("synth_medium")
    rates = DefectRates(
        id_check_char=0.01, id_excel_mangled=0.005, id_missing=0.005, name_typo=0.01, duplicate_event=0.02
    )
    summary = generate(SynthConfig(households=20_000, months=14, seed=11, defects=rates), out, progress=False)
    return out, summary
