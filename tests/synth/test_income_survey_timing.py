"""The income survey describes a whole year: it is not delivered for a year the simulation only partly covers."""

from __future__ import annotations

from pathlib import Path

from fangpin.synth import DefectRates, SynthConfig, generate


def survey_in_first_delivery(tmp_path: Path, burn_in: int) -> bool:
    config = SynthConfig(
        county="360722",
        households=200,
        months=1,
        start="2026-09",
        seed=4,
        burn_in=burn_in,
        defects=DefectRates.none(),
    )
    generate(config, tmp_path, progress=False)
    return any((tmp_path / "deliveries" / "2026-09").glob("ag_income.*"))


def test_no_survey_of_a_partly_simulated_year(tmp_path: Path) -> None:
    assert not survey_in_first_delivery(tmp_path, burn_in=12)  # simulation starts 2025-09


def test_a_survey_when_last_year_is_fully_simulated(tmp_path: Path) -> None:
    assert survey_in_first_delivery(tmp_path, burn_in=20)  # simulation starts 2025-01
