"""Two months of a county fangpin's simulator did not write (../shared/samples, 73,000 persons on the real
villages of 信丰县) import through the CLI: every file imports, every rejected row has its reason, and a
second import changes nothing (issue 12)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fangpin import cli
from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, LinkReview, Status
from fangpin.lib import idcard
from fangpin.pipeline.readers import read_file
from fangpin.registry.models import Household, Membership, Person

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared/samples/county-360722-b-2026-02..03.tar.gz"
MONTHS = ("2026-02", "2026-03")


def broken_id_rows_end_somewhere(delivery: Delivery, path: Path) -> None:
    """Every row whose ID is broken is linked to a person, waits in the review queue, or is quarantined
    with a reason; none is stored with nobody behind it."""
    dataset = actions.active_catalog()[delivery.dataset]
    if "id_number" not in dataset.field_names:
        return
    raw = read_file(path, dataset).table  # as delivered (GBK files too), _row counted from 1
    ids = raw.column("id_number").to_pylist()
    broken = {
        r
        for r, i in zip(raw.column("_row").to_pylist(), ids, strict=True)
        if idcard.problem(i or "") is not None
    }
    stored = pq.read_table(
        actions.lake().data_path(delivery.dataset, delivery.period, delivery.lake_delivery_id),
        columns=["_row", "person_key"],
    )
    linked = {
        r
        for r, k in zip(
            stored.column("_row").to_pylist(), stored.column("person_key").to_pylist(), strict=True
        )
        if k is not None
    }
    waiting = set(LinkReview.objects.filter(delivery=delivery).values_list("row", flat=True))
    quarantine = actions.lake().quarantine(delivery.lake_delivery_id) if delivery.rejected else None
    refused = set(quarantine.column("_row").to_pylist()) if quarantine is not None else set()
    duplicates = delivery.duplicates or 0  # events delivered again: neither stored nor refused
    lost = broken - linked - waiting - refused
    assert len(lost) <= duplicates, (delivery.dataset, sorted(lost)[:5])


def _registry() -> tuple[int, int, int]:
    return Person.objects.count(), Household.objects.count(), Membership.objects.count()


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE.exists(), reason=f"the shared sample is not here: {SAMPLE}")
def test_both_months_of_the_outside_sample_import_and_every_rejected_row_has_its_reason(
    xinfeng, tmp_path: Path
) -> None:
    with tarfile.open(SAMPLE) as archive:
        archive.extractall(tmp_path, filter="data")
    for month in MONTHS:
        assert cli.main(["exchange", "import", str(tmp_path / month), "--period", month]) == 0
        deliveries = list(Delivery.objects.filter(period=month))
        assert len(deliveries) == len(list((tmp_path / month).glob("*.csv"))) >= 24  # one dataset is late
        assert {d.dataset: d.status for d in deliveries if d.status != Status.ACCEPTED} == {}
        for d in deliveries:
            assert d.reconciles, d.dataset
            quarantined = actions.lake().quarantine(d.lake_delivery_id) if d.rejected else None
            if quarantined is not None:
                assert quarantined.num_rows == d.rejected == sum(d.reasons.values()), d.dataset
                assert quarantined.column("reason_code").null_count == 0, d.dataset
                assert all(quarantined.column("message_zh").to_pylist()), d.dataset
        for d in deliveries:
            broken_id_rows_end_somewhere(d, tmp_path / month / f"{d.dataset}.csv")
    police = Delivery.objects.get(dataset="ps_person", period=MONTHS[0])
    # rows whose broken ID linkage repaired are accepted without registering a person of their own
    assert 70_000 < Person.objects.count() <= police.accepted
    registry, accepted = _registry(), Delivery.objects.filter(status=Status.ACCEPTED).count()
    for month in MONTHS:
        assert cli.main(["exchange", "import", str(tmp_path / month), "--period", month]) == 0
    assert _registry() == registry
    assert Delivery.objects.filter(status=Status.DUPLICATE).count() == accepted
