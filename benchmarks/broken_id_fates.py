"""What became of every ID defect the simulator injected into one month of an imported county: the
right person, a wrong one, the review queue, or the quarantine (docs/linkage.md, issue 12).

    FANGPIN_HOME=<the import's home> FANGPIN_SYNTH=<the simulator's output> python benchmarks/broken_id_fates.py 2026-11
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ID_KINDS = ("id_check_char", "id_excel_mangled", "id_missing", "police_id_broken")


def where_rows_ended(period: str, wanted: dict[str, set[int]]) -> dict[tuple[str, int], dict[str, Any]]:
    import pyarrow.parquet as pq

    from fangpin.exchange import actions
    from fangpin.exchange.models import Delivery, LinkReview, Status

    store, rows = actions.lake(), {}
    for d in Delivery.objects.filter(period=period, status=Status.ACCEPTED, dataset__in=list(wanted)):
        need = wanted[d.dataset]
        data = pq.read_table(
            store.data_path(d.dataset, period, d.lake_delivery_id), columns=["_row", "person_key"]
        )
        for row, key in zip(
            data.column("_row").to_pylist(), data.column("person_key").to_pylist(), strict=True
        ):
            if row in need:
                rows[(d.dataset, row)] = {"stored": True, "person": key}
        if d.rejected:
            for q in store.quarantine(d.lake_delivery_id).select(["_row"]).to_pylist():
                if q["_row"] in need:
                    rows[(d.dataset, q["_row"])] = {"stored": False}
        for review in LinkReview.objects.filter(delivery=d):
            if (d.dataset, review.row) in rows:
                rows[(d.dataset, review.row)]["review"] = True
    return rows


def fate(o: dict[str, Any]) -> str:
    if "stored" not in o:
        return "lost"
    if not o["stored"]:
        return "unlinkable"
    if o.get("person") is not None:
        return "right" if o["person"] == o["true"] else "wrong"
    return "review" if o.get("review") else "lost"


def main(period: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fangpin.settings")
    django.setup()
    import pyarrow.parquet as pq

    from fangpin.registry.models import Person

    synth = Path(os.environ["FANGPIN_SYNTH"])
    defects = [
        d
        for d in pq.read_table(synth / "truth" / "defects.parquet").to_pylist()
        if d["period"] == period and d["kind"] in ID_KINDS
    ]
    wanted: dict[str, set[int]] = {}
    for d in defects:
        wanted.setdefault(d["dataset"], set()).add(d["row"] + 1)  # the reader counts data rows from 1
    rows, persons = where_rows_ended(period, wanted), dict(Person.objects.values_list("id_number", "pk"))
    table: dict[tuple[str, str, str], Counter[str]] = {}
    for d in defects:
        o = {**rows.get((d["dataset"], d["row"] + 1), {}), "true": persons.get(d["original"])}
        form = "E+17" if "E" in str(d["injected"]) else "…000" if str(d["injected"]).endswith("000") else ""
        key = (
            f"{d['kind']} {form}".strip(),
            "ps_person" if d["dataset"] == "ps_person" else "department",
            "registered" if o["true"] is not None else "not registered",
        )
        table.setdefault(key, Counter())[fate(o)] += 1
    print("| defect | file | person | rows | right | wrong | review | unlinkable | lost |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (kind, where, known), c in sorted(table.items()):
        print(
            f"| {kind} | {where} | {known} | {c.total():,} | {c['right']:,} | {c['wrong']} | {c['review']:,} "
            f"| {c['unlinkable']:,} | {c['lost']} |"
        )


if __name__ == "__main__":
    main(sys.argv[1])
