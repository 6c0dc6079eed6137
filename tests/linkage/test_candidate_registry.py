"""Linking against only the registry persons the rows can meet (their exact IDs and everyone sharing a
blocking key with the residue), told the whole registry's size, gives the whole registry's result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fangpin.pipeline.linkage import (
    LinkModel,
    LinkResult,
    LinkSettings,
    blocking_keys,
    exact_id_lookups,
    link,
    prepare,
)
from fangpin.pipeline.linkage_eval import read_synth_month, synth_periods
from fangpin.synth.defects import ID_CHECK_CHAR, ID_EXCEL_MANGLED, ID_MISSING, NAME_TYPO

DEFECT_KINDS = {ID_CHECK_CHAR, ID_EXCEL_MANGLED, ID_MISSING, NAME_TYPO}


def candidates(records: pa.Table, registry: pa.Table) -> pa.Table:
    """The candidate registry as exchange.actions.candidate_registry reads it from the database."""
    by_id = registry.filter(
        pc.is_in(registry.column("id_number"), pa.array(exact_id_lookups(records), pa.string()))
    )
    keys = blocking_keys(records, by_id)
    reg = prepare(registry, side="registry")

    def name_birth(table: pa.Table) -> pa.Array:
        return pc.binary_join_element_wise(table.column("name"), table.column("birth_date"), "|")

    shares = [
        pc.is_in(reg.column(c), keys.column(c).drop_null()) for c in ("id14", "household_no", "village_code")
    ]
    shares.append(pc.is_in(name_birth(reg), name_birth(keys).drop_null()))
    shares.append(pc.is_in(registry.column("person_key"), by_id.column("person_key")))
    keep = shares[0]
    for share in shares[1:]:
        keep = pc.or_(keep, pc.fill_null(share, False))
    return registry.filter(pc.fill_null(keep, False))


def outcome(result: LinkResult) -> tuple[list[dict[str, Any]], ...]:
    return (
        result.links.sort_by("_row").to_pylist(),
        result.review.sort_by([("_row", "ascending"), ("rank", "ascending")]).to_pylist(),
        result.unlinked.sort_by("_row").to_pylist(),
    )


def same(a: LinkResult, b: LinkResult, tolerance: float = 1e-9) -> bool:
    """Same rows, persons, ranks and reasons; probabilities within `tolerance` (DuckDB sums in parallel,
    so two runs differ in the last bits)."""
    for part_a, part_b in zip(outcome(a), outcome(b), strict=True):
        if len(part_a) != len(part_b):
            return False
        for row_a, row_b in zip(part_a, part_b, strict=True):
            p_a, p_b = row_a.pop("probability", 0.0), row_b.pop("probability", 0.0)
            if row_a != row_b or abs(p_a - p_b) > tolerance:
                return False
    return True


@pytest.fixture(scope="module")
def defective_month(synth_dir: Path) -> tuple[pa.Table, list[str], set[str]]:
    """Every row of the month the simulator broke (check character, Excel, blank ID, name typo) and the
    first 2,000 others; the defect kinds those rows carry."""
    period = synth_periods(synth_dir)[0]
    month = read_synth_month(synth_dir, period)
    defects = pq.read_table(synth_dir / "truth" / "defects.parquet").to_pylist()
    broken = {(d["dataset"], d["row"]): d["kind"] for d in defects if d["period"] == period}
    origin = zip(
        month.origin.column("dataset").to_pylist(), month.origin.column("data_row").to_pylist(), strict=True
    )
    kinds = [broken.get(key) for key in origin]
    chosen = [i for i, kind in enumerate(kinds) if kind in DEFECT_KINDS or i < 2000]
    records = month.records.take(chosen)
    present = {kind for i in chosen if (kind := kinds[i]) is not None} & DEFECT_KINDS
    return records, list(month.fields), present


def test_candidates_with_the_registry_size_link_every_defect_kind_as_the_whole_registry(
    defective_month: tuple[pa.Table, list[str], set[str]], registry: pa.Table, model: LinkModel
) -> None:
    records, fields, kinds = defective_month
    assert kinds == DEFECT_KINDS
    subset = candidates(records, registry)
    assert subset.num_rows < registry.num_rows
    whole = link(records, registry, dataset_fields=fields, settings=LinkSettings(model=model))
    settings = LinkSettings(model=model, registry_size=registry.num_rows)
    assert same(whole, link(records, subset, dataset_fields=fields, settings=settings))
    assert whole.links.num_rows and whole.review.num_rows and whole.unlinked.num_rows


def test_registry_size_replaces_the_number_of_registry_rows_in_the_prior(
    defective_month: tuple[pa.Table, list[str], set[str]], registry: pa.Table, model: LinkModel
) -> None:
    records, fields, _ = defective_month
    known = pc.is_in(records.column("id_number"), registry.column("id_number"))
    residue = records.filter(pc.invert(pc.fill_null(known, False)))  # the rows of broken or unknown IDs
    assert residue.num_rows
    assert LinkSettings().registry_size is None
    whole = link(residue, registry, dataset_fields=fields, settings=LinkSettings(model=model))
    told = LinkSettings(model=model, registry_size=registry.num_rows)
    assert same(link(residue, registry, dataset_fields=fields, settings=told), whole)
    # without the size, fewer persons make each of them a likelier match: not the whole registry's answer
    subset = candidates(residue, registry)
    untold = link(residue, subset, dataset_fields=fields, settings=LinkSettings(model=model))
    assert not same(untold, whole, tolerance=1e-6)
    assert same(whole, link(residue, subset, dataset_fields=fields, settings=told))
