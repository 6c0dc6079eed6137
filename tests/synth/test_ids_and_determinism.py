from __future__ import annotations

import argparse
import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fangpin.lib import idcard
from fangpin.synth import DefectRates, SynthConfig, generate, ids
from fangpin.synth.command import main, register
from fangpin.synth.defects import _scientific


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_it_builds_the_same_ids_as_the_library() -> None:
    births = [dt.date(1950, 2, 28), dt.date(1999, 12, 31), dt.date(2024, 7, 1)]
    days = np.array(births, dtype="datetime64[D]").astype(np.int64)
    got = ids.to_strings(
        ids.first17(np.array([360722] * 3), days, np.array([0, 17, 499]), np.array([True, False, True]))
    ).to_pylist()
    assert got == [
        idcard.make("360722", b, s, m)
        for b, s, m in zip(births, [0, 17, 499], [True, False, True], strict=True)
    ]


def test_it_mangles_ids_the_way_excel_does() -> None:
    assert _scientific("360722198001010012") == "3.60722E+17"
    assert idcard.problem("3.60722E+17") == idcard.IdProblem.EXCEL_MANGLED


def test_it_is_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    config = SynthConfig(households=300, months=2, seed=5)
    generate(config, tmp_path / "a", progress=False)
    generate(config, tmp_path / "b", progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_it_runs_from_the_command_line(tmp_path: Path, capsys: object) -> None:
    code = main(
        [
            "synth",
            "--county",
            "360722",
            "--households",
            "200",
            "--months",
            "1",
            "--out",
            str(tmp_path),
            "--defects",
            "none",
            "--quiet",
        ]
    )
    assert code == 0
    assert (tmp_path / "summary.json").is_file()
    assert (tmp_path / "deliveries" / "2025-01" / "ps_person.csv").is_file()


def test_it_registers_the_synth_subcommand() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["synth", "--out", "x", "--persons", "1000"])
    assert args.persons == 1000 and callable(args.func)


def test_it_overrides_single_defect_rates_from_the_command_line(tmp_path: Path) -> None:
    code = main(
        [
            "synth",
            "--county",
            "360722",
            "--households",
            "200",
            "--months",
            "1",
            "--out",
            str(tmp_path),
            "--defects",
            "none",
            "--defect-rate",
            "id_missing=0.5",
            "--defect-rate",
            "gbk_encoding=1",
            "--quiet",
        ]
    )
    assert code == 0
    kinds = pq.read_table(tmp_path / "truth" / "defects.parquet")["kind"].to_pylist()
    assert set(kinds) == {"id_missing", "gbk_encoding"}
    assert kinds.count("gbk_encoding") == 1


def test_it_parses_defect_rate_overrides() -> None:
    rates = DefectRates().with_overrides(["name_typo=2%", "late_datasets=3", " id_check_char = 0 "])
    assert rates.name_typo == 0.02 and rates.late_datasets == 3 and rates.id_check_char == 0.0
    assert rates.id_missing == DefectRates().id_missing
    assert DefectRates.none().with_overrides([]) == DefectRates.none()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("typo=0.1", "unknown defect kind 'typo'"),
        ("name_typo", "expects KIND=RATE"),
        ("name_typo=", "expects KIND=RATE"),
        ("name_typo=lots", "not a number"),
        ("name_typo=1.5", "between 0 and 1"),
        ("gbk_files=0.5", "whole number"),
        ("late_dataset=-1", ">= 0"),
    ],
)
def test_it_rejects_bad_defect_rates(
    tmp_path: Path, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["synth", "--households", "50", "--out", str(tmp_path), "--defect-rate", spec, "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "fangpin synth:" in err
    assert not (tmp_path / "summary.json").exists()
