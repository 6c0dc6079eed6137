"""Tiny hand-made lakes for the screening tests: rows committed with Lake.commit directly (fast)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa

from fangpin.pipeline.lake import Lake
from fangpin.pipeline.validate import accepted_schema

VILLAGE = "360722100001"
OTHER_VILLAGE = "360722100002"


def put(lake: Lake, dataset: str, period: str, rows: list[dict[str, Any]]) -> None:
    """Commit `rows` (catalog fields + person_key/household_key; missing fields NULL) as one delivery."""
    schema = accepted_schema(lake.catalog[dataset])
    cols: dict[str, list[Any]] = {f.name: [] for f in schema}
    cols["person_key"], cols["household_key"] = [], []
    for i, row in enumerate(rows, start=1):
        for name in cols:
            cols[name].append(i if name == "_row" else row.get(name))
    fields = [*schema, pa.field("person_key", pa.int64()), pa.field("household_key", pa.int64())]

    def conv(value: Any, t: pa.DataType) -> Any:
        if value is not None and pa.types.is_decimal(t):
            return Decimal(str(value))
        return value

    table = pa.table({f.name: pa.array([conv(v, f.type) for v in cols[f.name]], f.type) for f in fields})
    empty = pa.table({"_row": pa.array([], pa.int64())})
    did = lake.new_delivery_id(dataset, period)
    lake.commit(did, dataset, period, f"{dataset}-{period}-{did}", table, empty)


_ID_SEQ = iter(range(1, 10**6))


@dataclass
class County:
    """Households described person by person; `commit(lake, periods)` writes every dataset."""

    snapshots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    next_person: int = 1

    def add(self, dataset: str, **row: Any) -> None:
        self.snapshots.setdefault(dataset, []).append(row)

    def event(self, dataset: str, period: str, **row: Any) -> None:
        self.events.setdefault(dataset, []).append((period, row))

    def person(
        self, hk: int, hno: str, village: str, born: str, *, status: str = "normal", died: str | None = None
    ) -> int:
        pk = self.next_person
        self.next_person += 1
        self.add(
            "ps_person",
            id_number=f"P{pk:017d}",
            name=f"人{pk}",
            gender="1",
            birth_date=dt.date.fromisoformat(born),
            household_no=hno,
            relation="01",
            village_code=village,
            status=status,
            status_date=dt.date.fromisoformat(died) if died else None,
            person_key=pk,
            household_key=hk,
        )
        return pk

    def job(self, hk: int, pk: int, wage: float, start: str = "2020-01-01", end: str | None = None) -> None:
        self.add(
            "hr_employment",
            id_number=f"P{pk:017d}",
            employer="某公司",
            region="county",
            start_date=dt.date.fromisoformat(start),
            end_date=dt.date.fromisoformat(end) if end else None,
            monthly_wage=wage,
            person_key=pk,
            household_key=hk,
        )

    def household(
        self, hk: int, *, village: str = VILLAGE, workers: int = 2, wage: float = 3000.0, members: int = 2
    ) -> list[int]:
        """A household of `members` adults aged 40; the first `workers` employed at `wage`/month."""
        hno = f"{village}{hk:04d}"
        pks = [self.person(hk, hno, village, "1986-01-01") for _ in range(members)]
        for pk in pks[:workers]:
            self.job(hk, pk, wage)
        return pks

    def commit(self, lake: Lake, periods: tuple[str, ...] = ("2026-09", "2026-10")) -> None:
        villages = {r["village_code"] for r in self.snapshots.get("ps_person", [])}
        water = {r["village_code"] for r in self.snapshots.get("wr_water", [])}
        for v in sorted(villages - water):
            self.add(
                "wr_water",
                village_code=v,
                supply="centralized",
                outage_days=0,
                quality_ok=True,
                guarantee_rate=1.0,
            )
        for period in periods:
            for dataset, rows in self.snapshots.items():
                put(lake, dataset, period, rows)
        for dataset, items in self.events.items():
            by_period: dict[str, list[dict[str, Any]]] = {}
            for period, row in items:
                by_period.setdefault(period, []).append(row)
            for period, rows in sorted(by_period.items()):
                put(lake, dataset, period, rows)


def hno(hk: int, village: str = VILLAGE) -> str:
    return f"{village}{hk:04d}"
