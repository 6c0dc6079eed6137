"""The ID defects real counties have and the simulator lacked: an Excel "…000" ID whose check character
happens to fit (valid-looking, a man's then contradicting his gender), and IDs broken in the police
snapshot itself, the same way month after month."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fangpin.lib import idcard
from fangpin.synth import DefectRates, SynthConfig, generate

MONTHS = ["2026-08", "2026-09", "2026-10"]


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth_broken_ids")
    rates = DefectRates.none().with_overrides(
        ["id_excel_mangled=0.2", "id_excel_valid_looking=1", "police_id_broken=0.02"]
    )
    generate(
        SynthConfig(households=300, months=3, start=MONTHS[0], seed=5, defects=rates), out, progress=False
    )
    return out


def _defects(out: Path, kind: str) -> list[dict[str, object]]:
    return [d for d in pq.read_table(out / "truth" / "defects.parquet").to_pylist() if d["kind"] == kind]


def _police_rows(out: Path, period: str) -> list[dict[str, str]]:
    with open(out / "deliveries" / period / "ps_person.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_excel_padding_that_fits_the_check_character_is_delivered_valid_looking(broken_run: Path) -> None:
    padded = [d for d in _defects(broken_run, "id_excel_mangled") if str(d["injected"]).endswith("000")]
    looking_valid = [d for d in padded if idcard.problem(str(d["injected"])) is None]
    assert looking_valid, "no padded ID whose check character fits"
    police = {r["id_number"]: r for p in MONTHS for r in _police_rows(broken_run, p)}
    men = [
        d
        for d in looking_valid
        if d["dataset"] == "ps_person" and police[str(d["injected"])]["gender"] == "1"
    ]
    assert men, "no man with a valid-looking padded ID (it reads as a woman's)"
    for d in men:
        assert idcard.facts(str(d["injected"])).gender == "2"  # the ID contradicts the row's gender


def test_the_police_snapshot_breaks_the_same_ids_in_every_month(broken_run: Path) -> None:
    broken = _defects(broken_run, "police_id_broken")
    by_month: dict[str, dict[str, str]] = {}
    for d in broken:
        assert d["dataset"] == "ps_person" and d["field"] == "id_number"
        assert idcard.problem(str(d["injected"])) is idcard.IdProblem.CHECK_CHAR
        assert str(d["injected"])[:17] == str(d["original"])[:17]
        by_month.setdefault(str(d["period"]), {})[str(d["original"])] = str(d["injected"])
    assert set(by_month) == set(MONTHS)
    first = by_month[MONTHS[0]]
    assert len(first) >= 5
    other = {
        (d["period"], d["original"])
        for d in _defects(broken_run, "id_excel_mangled")
        if d["dataset"] == "ps_person"
    }
    for period in MONTHS[1:]:
        for original, injected in first.items():  # the same persons, broken the same way, unless another
            if (period, original) not in other:  # defect hit the row this month (Excel keeps that one)
                assert by_month[period].get(original) == injected, (period, original)
    for period in MONTHS:  # and so delivered
        delivered = {r["id_number"] for r in _police_rows(broken_run, period)}
        assert set(by_month[period].values()) <= delivered
        assert not set(by_month[period]) & delivered
