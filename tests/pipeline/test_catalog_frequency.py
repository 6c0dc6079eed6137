"""How often a dataset is due: monthly by default, or once a year in a given month."""

from __future__ import annotations

import pytest

from fangpin.pipeline.catalog import CatalogError, load_catalog, parse_catalog

DEPARTMENTS = {"agriculture": {"zh": "农业农村"}}
FIELDS = [{"name": "household_no", "zh": "户编号", "type": "str", "key": True}]


def one_dataset(**extra: object) -> dict[str, object]:
    spec = {"department": "agriculture", "zh": "测试", "cadence": "snapshot", "fields": FIELDS, **extra}
    return {"departments": DEPARTMENTS, "datasets": {"t": spec}}


def test_the_packaged_income_survey_is_due_in_march_only() -> None:
    survey = load_catalog().datasets["ag_income"]
    assert survey.due_in("2026-03") and not survey.due_in("2026-04")
    assert load_catalog().datasets["ps_person"].due_in("2026-04")


def test_an_annual_dataset_needs_its_due_month() -> None:
    with pytest.raises(CatalogError, match="due_month"):
        parse_catalog(one_dataset(frequency="annual"), version="x")


def test_an_unknown_frequency_is_refused() -> None:
    with pytest.raises(CatalogError, match="frequency"):
        parse_catalog(one_dataset(frequency="weekly"), version="x")
