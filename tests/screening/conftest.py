"""Fixtures for the screening tests (helpers in tinylake.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fangpin.pipeline.catalog import Catalog, load_catalog
from fangpin.pipeline.engine import DuckDBEngine
from fangpin.pipeline.lake import Lake


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def engine() -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(threads=2)
    yield eng
    eng.close()


@pytest.fixture
def lake(tmp_path: Path, catalog: Catalog, engine: DuckDBEngine) -> Lake:
    return Lake(tmp_path / "lake", catalog=catalog, engine=engine)
