"""Excel padded a worker's ID to 15 digits + 000, and that padded ID is a real woman's: through `fangpin
exchange import`, the employment row still goes to the worker, because last month's delivery held his
job under his intact ID (pipeline/continuity.py) — not to the woman who holds the ID for real."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq

from fangpin.exchange import actions
from fangpin.exchange.models import LinkReview
from fangpin.lib import idcard
from fangpin.registry.models import Person

from .conftest import PERIODS


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def a_worker_whose_padded_id_is_valid(persons: list[dict[str, str]], jobs: list[dict[str, str]]) -> str:
    """A worker (intact ID in the employment file) whose ID padded by Excel happens to be a valid ID."""
    registered = {p["id_number"] for p in persons}
    working = [j["id_number"] for j in jobs if j["id_number"] in registered]
    for id_number in working:
        padded = id_number[:15] + "000"
        if padded != id_number and idcard.problem(padded) is None and padded not in registered:
            return id_number
    raise AssertionError("the simulated county has no such worker; pick another seed")


def test_a_padded_id_that_is_a_real_womans_goes_to_the_worker_whose_job_it_is(
    xinfeng: None, county_deliveries: Path, tmp_path: Path
) -> None:
    first, second = (county_deliveries / "deliveries" / p for p in PERIODS)
    persons, jobs = read(first / "ps_person.csv"), read(first / "hr_employment.csv")
    worker = a_worker_whose_padded_id_is_valid(persons, jobs)
    padded = worker[:15] + "000"
    # 曾萍 holds the padded ID for real: she lives in the worker's household and has no job
    home = next(p for p in persons if p["id_number"] == worker)
    zeng_ping = {**home, "id_number": padded, "name": "曾萍", "gender": "2", "relation": "09"}
    zeng_ping["birth_date"] = f"{padded[6:10]}-{padded[10:12]}-{padded[12:14]}"
    for period, folder in zip(PERIODS, (first, second), strict=True):
        police = [*read(folder / "ps_person.csv"), zeng_ping]
        actions.import_file(write(tmp_path / f"ps-{period}.csv", police), "ps_person", period)
    actions.import_file(write(tmp_path / "jobs-1.csv", jobs), "hr_employment", PERIODS[0])

    # next month the department's file went through Excel for the worker's row; his wage changed too
    jobs_now = [dict(j) for j in jobs if j["id_number"] != padded]
    row = next(i for i, j in enumerate(jobs_now) if j["id_number"] == worker)
    jobs_now[row] |= {"id_number": padded, "monthly_wage": "9999.00"}
    delivery = actions.import_file(write(tmp_path / "jobs-2.csv", jobs_now), "hr_employment", PERIODS[1])

    stored = pq.read_table(actions.lake().data_path("hr_employment", PERIODS[1], delivery.lake_delivery_id))
    person_of_row = dict(
        zip(stored.column("_row").to_pylist(), stored.column("person_key").to_pylist(), strict=True)
    )
    worker_key = Person.objects.get(id_number=worker).pk
    assert person_of_row[row + 1] == worker_key  # data rows count from 1
    assert Person.objects.get(id_number=padded).name == "曾萍"
    assert not LinkReview.objects.filter(delivery=delivery, row=row + 1).exists()
