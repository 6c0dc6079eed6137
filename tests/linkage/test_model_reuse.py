"""The exchange trains the linkage model once and keeps it while police snapshots change the registry
little; it retrains once they changed RETRAIN_SHARE of the persons it was trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from fangpin.exchange import actions
from fangpin.pipeline.linkage import LinkModel


@pytest.fixture
def trainings(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of persons of each training (a real one, on the small county)."""
    settings.FANGPIN_LAKE = str(tmp_path / "lake")
    calls: list[int] = []
    train = actions.train_model

    def counting(registry: pa.Table, *args: Any, **kwargs: Any) -> LinkModel:
        calls.append(registry.num_rows)
        return train(registry, *args, **kwargs)

    monkeypatch.setattr(actions, "train_model", counting)
    return calls


def test_a_model_is_trained_once_and_kept_while_snapshots_change_little(
    registry: pa.Table, trainings: list[int]
) -> None:
    first = actions.linkage_model(registry, changed=registry.num_rows)
    small = int(actions.RETRAIN_SHARE * registry.num_rows / 3)
    second = actions.linkage_model(registry, changed=small)
    third = actions.linkage_model(registry, changed=small)
    assert trainings == [registry.num_rows]
    assert second.settings == third.settings == first.settings
    assert third.meta["changed_since_training"] == 2 * small
    assert actions.linkage_model(registry).meta["changed_since_training"] == 2 * small  # any other file


def test_changes_adding_up_to_the_share_retrain_the_model(registry: pa.Table, trainings: list[int]) -> None:
    actions.linkage_model(registry, changed=0)
    half = int(actions.RETRAIN_SHARE * registry.num_rows / 2) + 1
    actions.linkage_model(registry, changed=half)
    assert len(trainings) == 1
    model = actions.linkage_model(registry, changed=half)
    assert len(trainings) == 2
    assert model.meta["changed_since_training"] == 0
    assert model.meta["registry_persons"] == registry.num_rows


def test_a_model_stored_without_its_registry_size_is_retrained_after_the_next_snapshot(
    registry: pa.Table, trainings: list[int]
) -> None:
    model = actions.linkage_model(registry, changed=0)
    del model.meta["registry_persons"]
    model.save(actions._model_path())
    assert actions.linkage_model(registry).settings == model.settings  # not by a department's file
    actions.linkage_model(registry, changed=0)
    assert len(trainings) == 2
