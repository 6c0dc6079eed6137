"""Registry vs department: N department rows against an N-person registry (issue 12, ADR 0027).

The registry is a simulated 信丰县's persons (true IDs). The department file holds one row per sampled
person with name, gender, birth date and village, corrupted as real exports are: 20 % of IDs blank, 0.5 %
a wrong check character, 0.3 % Excel's 15 digits + 000, 3 % a name typo, 2 % a birth date with one digit
changed, 5 % no village. 2 % of the rows are persons not in the registry, half of them namesakes of a
registry person (same name, birth date, gender, village) delivered with their own valid ID (never blanked),
half a newcomer to a registry person's village (another name and birth date): linking one is a wrong link.

`linkage_dept_residue` is the shipped design (exact ID, Splink on the residue); its baseline, in the same
run, is `linkage_dept_all_rows_splink` (Splink, same model, scoring every row). Size: FANGPIN_BENCH_SCALE
× 1,000,000 persons (`FANGPIN_BENCH_SCALE=0.2` = 200k × 200k).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PERSONS_PER_HOUSEHOLD = 3.6  # the simulator's average: households = persons / 3.6


def department_rows(registry: pa.Table, rng: np.random.Generator) -> tuple[pa.Table, list[int | None]]:
    """(records, true person_key per row, None for a person not in the registry)."""
    from fangpin.lib import idcard
    from fangpin.synth import names

    n = registry.num_rows
    people = registry.to_pylist()
    taken = set(registry.column("id_number").to_pylist())
    rows: list[dict[str, Any]] = []
    truth: list[int | None] = []
    for i in rng.permutation(n):
        person = dict(people[int(i)])
        key: int | None = person["person_key"]
        u = rng.random()
        if u < 0.02:  # not in the registry: half a namesake born the same day, half a newcomer
            key = None
            if u >= 0.01:  # of the same village, another name and birth date
                person["name"] = names.typo(person["name"], rng)
                person["birth_date"] -= dt.timedelta(days=int(rng.integers(30, 3650)))
            for sequence in rng.permutation(499)[:20]:
                other = idcard.make(
                    person["id_number"][:6],
                    person["birth_date"],
                    int(sequence) + 1,
                    male=person["gender"] == "1",
                )
                if other not in taken:
                    taken.add(other)
                    person["id_number"] = other
                    break
            if u < 0.01:  # the namesake keeps the valid ID it was delivered with
                rows.append({**_corrupt(person, rng), "id_number": person["id_number"]})
                truth.append(key)
                continue
        rows.append(_corrupt(person, rng))
        truth.append(key)
    return pa.Table.from_pylist(rows), truth


def _corrupt(person: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    from fangpin.lib import idcard
    from fangpin.synth import names

    id_number: str = person["id_number"]
    u = rng.random()
    if u < 0.20:
        id_number = ""
    elif u < 0.205:
        id_number = idcard.with_wrong_check_char(id_number, int(rng.integers(0, 10)))
    elif u < 0.208:
        id_number = id_number[:15] + "000"
    name = names.typo(person["name"], rng) if rng.random() < 0.03 else person["name"]
    born = person["birth_date"].isoformat()
    if rng.random() < 0.02:
        pos = int(rng.choice([3, 6, 9]))  # the year's last digit, the month's or the day's
        digit = str((int(born[pos]) + 1 + int(rng.integers(0, 8))) % 10)
        candidate = born[:pos] + digit + born[pos + 1 :]
        born = candidate if _real_date(candidate) else born
    return {
        "_row": 0,
        "id_number": id_number,
        "name": name,
        "gender": person["gender"],
        "birth_date": born,
        "village_code": None if rng.random() < 0.05 else person["village_code"],
    }


def _real_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def score(result: Any, records: pa.Table, truth: list[int | None]) -> dict[str, float | int]:
    """Recall on rows without an ID and with one (of rows whose person is in the registry), precision over
    every link, and the wrong links of persons not in the registry."""
    linked = dict(
        zip(
            result.links.column("_row").to_pylist(),
            result.links.column("person_key").to_pylist(),
            strict=True,
        )
    )
    blank = [not v for v in records.column("id_number").to_pylist()]
    counts = {
        "noid": 0,
        "noid_right": 0,
        "id": 0,
        "id_right": 0,
        "links": len(linked),
        "wrong": 0,
        "stranger_links": 0,
    }
    for row, (true, no_id) in enumerate(zip(truth, blank, strict=True)):
        got = linked.get(row)
        if got is not None and got != true:
            counts["wrong"] += 1
            counts["stranger_links"] += int(true is None)
        if true is None:
            continue
        kind = "noid" if no_id else "id"
        counts[kind] += 1
        counts[f"{kind}_right"] += int(got == true)
    return {
        "recall_no_id": round(counts["noid_right"] / max(counts["noid"], 1), 5),
        "recall_with_id": round(counts["id_right"] / max(counts["id"], 1), 5),
        "precision": round(1 - counts["wrong"] / max(counts["links"], 1), 6),
        "wrong_links": counts["wrong"],
        "stranger_links": counts["stranger_links"],
        "review_rows": result.n_review_rows,
    }


def run() -> list[dict[str, Any]]:
    from fangpin.pipeline.linkage import LinkSettings, link, train_model
    from fangpin.pipeline.linkage_eval import registry_from_synth
    from fangpin.synth.config import DefectRates, SynthConfig
    from fangpin.synth.run import generate

    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    households = max(int(1_000_000 * scale / PERSONS_PER_HOUSEHOLD), 300)
    with tempfile.TemporaryDirectory() as tmp:
        config = SynthConfig(
            county="360722",
            households=households,
            months=1,
            start="2026-08",
            seed=2,
            defects=DefectRates.none(),
        )
        generate(config, Path(tmp), progress=False)
        registry = registry_from_synth(Path(tmp))
    records, truth = department_rows(registry, np.random.default_rng(12))
    records = records.set_column(0, "_row", pa.array(range(records.num_rows), pa.int64()))
    fields = ["id_number", "name", "gender", "birth_date", "village_code"]
    began = time.perf_counter()
    exact = pc.is_in(records.column("id_number"), value_set=registry.column("id_number"))
    keys = pc.index_in(records.column("id_number"), value_set=registry.column("id_number"))
    labelled = records.filter(exact).append_column(
        "person_key", pc.take(registry.column("person_key"), keys.filter(exact))
    )
    model = train_model(registry, labelled)
    train_s = time.perf_counter() - began
    timings: dict[str, tuple[float, Any]] = {}
    for name, settings in (
        ("linkage_dept_residue", LinkSettings(model=model)),
        ("linkage_dept_all_rows_splink", LinkSettings(model=model, all_rows=True, prior_known=0.98)),
    ):
        t0 = time.perf_counter()
        result = link(records, registry, dataset_fields=fields, settings=settings)
        timings[name] = (time.perf_counter() - t0, result)
    base_s = timings["linkage_dept_all_rows_splink"][0]
    common = {
        "scale": scale,
        "registry": registry.num_rows,
        "rows": records.num_rows,
        "train_s": round(train_s, 1),
    }
    return [
        {
            "name": name,
            "median_s": round(seconds, 3),
            "baseline": round(base_s, 3),
            "ratio": round(seconds / base_s, 3),
            "speedup": round(base_s / seconds, 2),
            "runs": 1,
            **score(result, records, truth),
            **common,
        }
        for name, (seconds, result) in timings.items()
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    for row in run():
        print(row)
