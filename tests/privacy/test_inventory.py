"""The personal-information inventory (SECURITY.md PI-01) covers every model field and lake column that
looks like personal information, and each entry says category, purpose, who, masking and retention."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import models

from fangpin.pipeline.catalog import load_catalog
from fangpin.privacy import inventory


def _model_fields() -> dict[str, models.Field]:  # type: ignore[type-arg]
    return {
        f"{m._meta.app_label}.{m.__name__}.{f.name}": f
        for m in apps.get_models()
        if m.__module__.startswith("fangpin.")
        for f in m._meta.get_fields()
        if getattr(f, "concrete", False)
    }


def _unlisted(names: list[str]) -> list[str]:
    known = inventory.load()
    return [n for n in names if n not in known.fields and n not in known.not_personal]


def test_every_model_field_that_looks_like_personal_information_is_in_the_inventory() -> None:
    flagged = [
        name
        for name, f in _model_fields().items()
        if inventory.pi_like(f.name, f.get_internal_type(), getattr(f, "max_length", None))
    ]
    assert flagged, "the heuristic finds the known fields"
    assert not _unlisted(flagged), "add these to privacy/pi-inventory.yaml (fields or not_personal)"


def test_a_new_model_field_named_like_personal_information_fails_the_check() -> None:
    """The check itself: a bank account or phone added to a model, not listed, is reported."""
    assert (
        inventory.pi_like("bank_account") and inventory.pi_like("mobile") and inventory.pi_like("diagnosis")
    )
    assert inventory.pi_like("home_address") and inventory.pi_like("birth_place")
    assert _unlisted(["registry.Person.bank_account", "warnings.Declaration.mobile"]) == [
        "registry.Person.bank_account",
        "warnings.Declaration.mobile",
    ]
    assert not inventory.pi_like("version") and not inventory.pi_like("created_at")
    assert inventory.pi_like("holder", "CharField", 18)  # shaped like an ID number, whatever its name


def test_the_inventory_lists_no_field_that_does_not_exist() -> None:
    known = inventory.load()
    existing = _model_fields()
    assert sorted(set(known.fields) - set(existing)) == []
    assert sorted(set(known.not_personal) - set(existing)) == []


def test_every_lake_column_of_a_dataset_about_a_person_or_household_is_in_the_inventory() -> None:
    known = inventory.load()
    expected = {
        f"{name}.{f.name}"
        for name, ds in load_catalog().datasets.items()
        if {"id_number", "household_no"} & set(ds.field_names)
        for f in ds.fields
        if f.name != "village_code"
    }
    assert sorted(expected - set(known.columns)) == []
    assert sorted(set(known.columns) - expected) == []


@pytest.mark.parametrize("section", ["fields", "columns"])
def test_each_entry_states_category_purpose_who_masking_and_retention(section: str) -> None:
    entries = getattr(inventory.load(), section)
    bad = {name: inventory.problems(entry) for name, entry in entries.items() if inventory.problems(entry)}
    assert bad == {}


def test_id_numbers_and_health_data_are_sensitive() -> None:
    known = inventory.load()
    assert known.fields["registry.Person.id_number"]["category"] == "敏感"
    assert known.columns["hc_disease.category"]["category"] == "敏感"
    assert all(e["category"] == "敏感" for n, e in known.columns.items() if n.endswith(".id_number"))
