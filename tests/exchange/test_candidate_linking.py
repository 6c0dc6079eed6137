"""A department file links against the registry persons its rows can meet, not the whole registry (10
million persons at province scale), and links exactly as the whole registry would."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from django.conf import settings as django_settings

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery
from fangpin.lib import idcard
from fangpin.pipeline.linkage import LinkModel, LinkResult, LinkSettings, link
from fangpin.registry.models import Membership, Person
from linkage.test_linkage import _fields

from .conftest import PERIODS


@pytest.fixture
def registry_built(xinfeng: None, county_deliveries: Path) -> Path:
    """The registry of the county from its police snapshot (which also trains the linkage model)."""
    folder = county_deliveries / "deliveries" / PERIODS[0]
    actions.import_file(folder / "ps_person.csv", "ps_person", PERIODS[0])
    return folder


@pytest.fixture
def link_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[pa.Table, pa.Table, LinkSettings, LinkResult]]:
    calls: list[tuple[pa.Table, pa.Table, LinkSettings, LinkResult]] = []

    def recording(records: pa.Table, registry: pa.Table, **kwargs: Any) -> LinkResult:
        result = link(records, registry, **kwargs)
        calls.append((records, registry, kwargs["settings"], result))
        return result

    monkeypatch.setattr(actions, "link", recording)
    return calls


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many registry rows each query of the linker returned."""
    counts: list[int] = []
    query = actions._current_rows

    def counting(where: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        rows = query(where, **kwargs)
        counts.append(len(rows))
        return rows

    monkeypatch.setattr(actions, "_current_rows", counting)
    return counts


def pension_file_with_strangers(folder: Path, out: Path) -> Path:
    """An upload: the first 200 rows of the month's pension file (its ID numbers name 200 of the
    county's ~1,400 persons) plus rows of valid ID numbers nobody in the registry has, each sharing area
    and birth date (the first 14 digits) with a registry person: they go to the probabilistic step."""
    with open(folder / "hr_pension.csv", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[:201]
    known = set(Person.objects.values_list("id_number", flat=True))
    strangers = []
    for person in Person.objects.order_by("pk")[:40:8]:
        for sequence in range(499, 0, -1):
            stranger = idcard.make(person.id_number[:6], person.birth_date, sequence, male=True)
            if stranger not in known:
                strangers.append([stranger, "true", "false", "0.00"])
                break
    path = out / "hr_pension.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows([*rows, *strangers])
    return path


def outcome(result: LinkResult, *, approx: bool = False) -> list[list[dict[str, Any]]]:
    """Rows, persons and reasons of each part; `approx`: probabilities as pytest.approx within 1e-9 (DuckDB
    sums in parallel, so two runs differ in the last bits)."""
    parts = [
        result.links.sort_by("_row"),
        result.review.sort_by([("_row", "ascending"), ("rank", "ascending")]),
    ]
    compared = [
        [
            {k: pytest.approx(v, abs=1e-9) if approx and k == "probability" else v for k, v in r.items()}
            for r in p.to_pylist()
        ]
        for p in parts
    ]
    return [*compared, result.unlinked.sort_by("_row").to_pylist()]


def test_an_import_reads_only_the_candidate_persons_and_links_as_the_whole_registry(
    registry_built: Path, tmp_path: Path, link_calls: list[Any], rows_read: list[int]
) -> None:
    path = pension_file_with_strangers(registry_built, tmp_path)
    delivery = actions.import_file(path, "hr_pension", PERIODS[0])
    persons = Membership.objects.filter(end_date__isnull=True).count()
    (records, candidates, settings, result), *_ = link_calls
    assert settings.registry_size == persons
    assert 0 < sum(rows_read) < persons and candidates.num_rows < persons
    assert result.unlinked.num_rows >= 5  # the strangers went through the probabilistic step
    model = LinkModel.load(Path(django_settings.FANGPIN_LAKE) / "_models" / "linkage.json")
    whole = link(
        records,
        actions.registry_table(),
        dataset_fields=["id_number"],
        settings=LinkSettings(model=model),
    )
    assert outcome(result) == outcome(whole, approx=True)
    delivery.refresh_from_db()
    # rows with a broken ID that reach nobody are quarantined (counted as rejected), not stored unlinked
    broken = sum(1 for r in whole.unlinked.to_pylist() if r["id_kind"] != "valid")
    assert (delivery.linked, delivery.unlinked) == (whole.links.num_rows, whole.unlinked.num_rows - broken)


def test_the_police_snapshot_and_a_file_whose_candidates_are_most_of_the_registry_read_it_whole(
    xinfeng: None, county_deliveries: Path, monkeypatch: pytest.MonkeyPatch, link_calls: list[Any]
) -> None:
    folder = county_deliveries / "deliveries" / PERIODS[0]
    actions.import_file(folder / "ps_person.csv", "ps_person", PERIODS[0])
    persons = Membership.objects.filter(end_date__isnull=True).count()
    assert link_calls[-1][2].registry_size is None and link_calls[-1][1].num_rows == persons
    monkeypatch.setattr(actions, "WHOLE_REGISTRY_SHARE", 0.0)
    actions.import_file(folder / "hr_pension.csv", "hr_pension", PERIODS[0])
    assert link_calls[-1][2].registry_size is None and link_calls[-1][1].num_rows == persons
    assert Delivery.objects.get(dataset="hr_pension").linked > 0


HOMOPHONES = {"华": "化", "明": "名", "军": "君", "英": "瑛", "兰": "岚", "芳": "方", "丽": "莉", "伟": "玮"}


def defective_rows(registry: pa.Table) -> pa.Table:
    """Rows with every person field, the ID broken as the simulator breaks it (wrong check character,
    Excel's 000, blank, a valid ID nobody has), a homophone in the name, or the person moved elsewhere."""
    rows: list[dict[str, Any]] = []
    for i, person in enumerate(registry.take(list(range(0, registry.num_rows, 23))).to_pylist()):
        row = _fields(person)
        kind = i % 6
        if kind == 0:
            row["id_number"] = idcard.with_wrong_check_char(person["id_number"])
        elif kind == 1:
            row["id_number"] = person["id_number"][:15] + "000"
        elif kind == 2:
            row["id_number"] = None
            row["name"] = "".join(HOMOPHONES.get(c, c) for c in person["name"])
        elif kind == 3:
            row["id_number"] = None
            row["household_no"] = None
        elif kind == 4:
            row["id_number"] = idcard.make(person["id_number"][:6], person["birth_date"], 3, male=True)
        rows.append(row)
    columns = {f: pa.array([r[f] for r in rows], pa.string()) for f in actions.PERSON_FIELDS}
    return pa.table({"_row": pa.array(range(len(rows)), pa.int64()), **columns})


def test_candidates_read_by_every_blocking_key_link_defective_rows_as_the_whole_registry(
    registry_built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a 1,400-person county: rows from all over it meet much of it, which would read it whole
    monkeypatch.setattr(actions, "WHOLE_REGISTRY_SHARE", 1.0)
    monkeypatch.setattr(actions, "VILLAGE_NAMES_SHARE", 1.0)
    whole = actions.registry_table()
    records = defective_rows(whole)
    candidates = actions.candidate_registry(records, whole.num_rows)
    assert candidates is not None and candidates.num_rows < whole.num_rows
    model = LinkModel.load(Path(django_settings.FANGPIN_LAKE) / "_models" / "linkage.json")
    fields = list(actions.PERSON_FIELDS)
    expected = link(records, whole, dataset_fields=fields, settings=LinkSettings(model=model))
    told = LinkSettings(model=model, registry_size=whole.num_rows)
    assert outcome(link(records, candidates, dataset_fields=fields, settings=told)) == outcome(
        expected, approx=True
    )
    assert sum(m == "probabilistic" for m in expected.links.column("method").to_pylist()) >= 10
