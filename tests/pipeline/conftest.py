"""Fixtures for the ingestion pipeline tests: one simulated county run with defects, tiny crafted files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from fangpin.synth import DefectRates, SynthConfig, generate

# IDs valid under GB 11643 (checked in test_validate against fangpin.lib.idcard)
GOOD_IDS = ("360722197111180017", "360722198101290006", "36072219860602001X", "360722200606270019")


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """800 households × 3 months from 2026-08, defects at higher rates so every kind shows up."""
    out = tmp_path_factory.mktemp("sim")
    rates = DefectRates(id_check_char=0.01, id_excel_mangled=0.01, id_missing=0.01, duplicate_event=0.03)
    generate(
        SynthConfig(households=800, months=3, start="2026-08", seed=1, defects=rates), out, progress=False
    )
    return out


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


PERSON_HEADER = [
    "id_number",
    "name",
    "gender",
    "birth_date",
    "household_no",
    "relation",
    "village_code",
    "status",
    "status_date",
]


def person_row(id_number: str = GOOD_IDS[0], **overrides: str) -> list[str]:
    row = {
        "id_number": id_number,
        "name": "吴宏",
        "gender": "1",
        "birth_date": "1971-11-18",
        "household_no": "3607221000030001",
        "relation": "01",
        "village_code": "360722100003",
        "status": "normal",
        "status_date": "",
    }
    row.update(overrides)
    return [row[h] for h in PERSON_HEADER]


class Tiny:
    """Crafted-file helpers, handed to tests as the `tiny` fixture (conftest is not importable)."""

    GOOD_IDS = GOOD_IDS
    PERSON_HEADER = PERSON_HEADER
    write_csv = staticmethod(write_csv)
    person_row = staticmethod(person_row)


@pytest.fixture
def tiny() -> type[Tiny]:
    return Tiny
