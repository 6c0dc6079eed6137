"""A small simulated county (registry + deliveries with injected defects) and a model trained once on it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from fangpin.pipeline.linkage import LinkModel
from fangpin.pipeline.linkage_eval import registry_from_synth, train_on_synth
from fangpin.synth.config import DefectRates, SynthConfig
from fangpin.synth.run import generate


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("linkage-synth")
    # 5x the default ID defect rates so a small county still has a few hundred defective rows
    rates = DefectRates(id_check_char=0.015, id_excel_mangled=0.01, id_missing=0.01, name_typo=0.02)
    config = SynthConfig(county="360722", households=1500, months=1, start="2026-08", seed=7, defects=rates)
    generate(config, out, progress=False)
    return out


@pytest.fixture(scope="session")
def registry(synth_dir: Path) -> pa.Table:
    return registry_from_synth(synth_dir)


@pytest.fixture(scope="session")
def model(synth_dir: Path, registry: pa.Table) -> LinkModel:
    return train_on_synth(synth_dir, registry)
