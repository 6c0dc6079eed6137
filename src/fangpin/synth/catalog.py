"""The exchange catalog (src/fangpin/pipeline/exchange-catalog.yaml), read as the contract for deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_PATH = Path(__file__).resolve().parent.parent / "pipeline" / "exchange-catalog.yaml"


@dataclass(frozen=True)
class Field:
    name: str
    zh: str
    type: str
    key: bool
    nullable: bool
    values: tuple[str, ...]
    range: tuple[float, float] | None


@dataclass(frozen=True)
class Dataset:
    name: str
    zh: str
    department: str
    cadence: str
    fields: tuple[Field, ...]

    @property
    def id_field(self) -> str | None:
        return next((f.name for f in self.fields if f.type == "id"), None)

    @property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.key)


@cache
def load(path: Path = CATALOG_PATH) -> dict[str, Dataset]:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, Dataset] = {}
    for name, spec in raw["datasets"].items():
        fields = tuple(
            Field(
                name=f["name"],
                zh=f["zh"],
                type=f["type"],
                key=bool(f.get("key", False)),
                nullable=bool(f.get("nullable", False)),
                values=tuple(str(v) for v in (f.get("values") or {})),
                range=tuple(f["range"]) if "range" in f else None,
            )
            for f in spec["fields"]
        )
        out[name] = Dataset(
            name=name, zh=spec["zh"], department=spec["department"], cadence=spec["cadence"], fields=fields
        )
    return out
