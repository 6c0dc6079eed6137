"""Files linked one after another against one registry table prepare its features once."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from fangpin.pipeline import linkage
from fangpin.pipeline.linkage import LinkModel, LinkSettings, link


def test_one_registry_table_is_prepared_once_and_links_as_before(
    registry: pa.Table, model: LinkModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = registry.slice(0, 40).select(["name", "gender", "birth_date", "village_code"])
    records = records.append_column("_row", pa.array(range(40), pa.int64()))
    fields = ["name", "gender", "birth_date", "village_code"]
    settings = LinkSettings(model=model)
    fresh = link(records, registry, dataset_fields=fields, settings=settings)
    prepared: list[str] = []
    prepare = linkage.prepare

    def counting(table: pa.Table, **kwargs: Any) -> pa.Table:
        prepared.append(kwargs["side"])
        return prepare(table, **kwargs)

    monkeypatch.setattr(linkage, "prepare", counting)
    again = link(records, registry, dataset_fields=fields, settings=settings)
    assert prepared.count("registry") == 0  # the table of the call before
    assert again.links.equals(fresh.links) and again.review.equals(fresh.review)
    link(records, registry.slice(0), dataset_fields=fields, settings=settings)  # another table object
    assert prepared.count("registry") == 1
