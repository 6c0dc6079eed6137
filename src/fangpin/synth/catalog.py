"""Re-export of the exchange catalog for the simulator: the one implementation is fangpin.pipeline.catalog."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fangpin.pipeline.catalog import CATALOG_PATH, Catalog, Dataset, Field, load_catalog

__all__ = ["CATALOG_PATH", "Catalog", "Dataset", "Field", "load", "load_catalog"]


@cache
def load(path: Path = CATALOG_PATH) -> dict[str, Dataset]:
    """Datasets by name (the simulator's historical entry point)."""
    return load_catalog(path).datasets
