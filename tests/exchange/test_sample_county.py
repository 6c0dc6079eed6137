"""Two months of a county fangpin's simulator did not write (../shared/samples, 73,000 persons on the real
villages of 信丰县) import through the CLI: every file imports, every rejected row has its reason, and a
second import changes nothing (issue 12)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from fangpin import cli
from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, Status
from fangpin.registry.models import Household, Membership, Person

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared/samples/county-360722-b-2026-02..03.tar.gz"
MONTHS = ("2026-02", "2026-03")


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
    police = Delivery.objects.get(dataset="ps_person", period=MONTHS[0])
    # rows whose broken ID linkage repaired are accepted without registering a person of their own
    assert 70_000 < Person.objects.count() <= police.accepted
    registry, accepted = _registry(), Delivery.objects.filter(status=Status.ACCEPTED).count()
    for month in MONTHS:
        assert cli.main(["exchange", "import", str(tmp_path / month), "--period", month]) == 0
    assert _registry() == registry
    assert Delivery.objects.filter(status=Status.DUPLICATE).count() == accepted
