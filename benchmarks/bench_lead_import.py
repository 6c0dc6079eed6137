"""Storing a screening as leads (`warnings.actions.import_screening`) at scale.

A province pushes ≈ 65,000 verification warnings + ≈ 10,000 prompts a month. The benchmark builds a county
of FANGPIN_BENCH_LEAD_TOWNSHIPS (20) townships × 20 villages with one township reviewer each, N households
(FANGPIN_BENCH_LEADS, default 20,000; FANGPIN_BENCH_SCALE shrinks it), a tenth of them with an open cadre
report (so a tenth of the warnings merge), and a synthetic ScreenResult with one pushed warning per
household; then times the first import (creates + merges) and a re-import of the same period (updates)
and counts the queries of each. It runs in a child process on a fresh database: SQLite in a temporary
FANGPIN_HOME by default, PostgreSQL with FANGPIN_BENCH_DATABASE_URL (the database is dropped and made again).

`baseline` is this benchmark's own target, a province's month (75,000 warnings) stored within a minute,
i.e. 0.8 ms per warning; `ratio` = seconds / baseline (one run each). docs/leads.md quotes the figures
and the one-query-at-a-time import they replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

TOWNSHIP_COUNT = 20
VILLAGES_PER_TOWNSHIP = 20
COUNTY = "360722"


def _fresh_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def prepare(n: int, townships: int = TOWNSHIP_COUNT) -> Any:
    """(Django set up, migrated) the county, reviewers, households, open cadre reports; the ScreenResult."""
    import pyarrow as pa

    from fangpin.accounts.models import User
    from fangpin.pipeline.screen import OUTPUT_SCHEMA, ScreenResult
    from fangpin.regions.models import Region
    from fangpin.registry.models import Household
    from fangpin.warnings import screening
    from fangpin.warnings.models import Lead

    regions = [
        Region(prefix="36", name="江西省", level="province"),
        Region(prefix="3607", name="赣州市", level="city", parent_id="36"),
    ]
    regions.append(Region(prefix=COUNTY, name="信丰县", level="county", parent_id="3607"))
    villages = []
    for t in range(townships):
        township = f"{COUNTY}{100 + t:03d}"
        regions.append(Region(prefix=township, name=f"镇{t}", level="township", parent_id=COUNTY))
        for v in range(VILLAGES_PER_TOWNSHIP):
            village = f"{township}{200 + v:03d}"
            villages.append(village)
            regions.append(Region(prefix=village, name=f"村{t}-{v}", level="village", parent_id=township))
    Region.objects.bulk_create(regions)
    for t in range(townships):
        User.objects.create_user(
            username=f"reviewer{t}", role="township_reviewer", region_id=f"{COUNTY}{100 + t:03d}"
        )
    Household.objects.bulk_create(
        [
            Household(
                household_no=f"H{i:010d}",
                household_type="former_poor",
                village_id=villages[i % len(villages)],
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    households = list(Household.objects.order_by("pk").values_list("pk", "household_no", "village_id"))
    Lead.objects.bulk_create(
        [
            Lead(
                household_id=pk,
                village_id=village,
                channel="cadre_report",
                kind="verify",
                period="2026-10",
                risk_types="01",
                reasons="干部走访排查：住院",
                provenance=[{"channel": "cadre_report", "at": "2026-10-02T09:00:00"}],
            )
            for pk, _, village in households[::10]
        ],
        batch_size=2000,
    )
    rows = [
        {
            "household_key": pk,
            "household_no": number,
            "village_code": village,
            "household_type": "former_poor",
            "monitor_status": "none",
            "score": 0.5 + (pk % 97) / 200,
            "grade": "高" if pk % 5 == 0 else "中",
            "risk_types": "01",
            "category": "unstable",
            "rules": "MED-01",
            "reasons": "近12个月单次住院自付4.0万元",
            "prompt": "verify",
            "village_rank": 1,
            "pushed": True,
            "net_income_pc_12m": 7000.0,
            "explanation": "住院自付较高",
        }
        for pk, number, village in households
    ]
    table = pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
    keys = [pk for pk, _, _ in households]
    portraits = pa.table(
        {
            "household_key": pa.array(keys, pa.int64()),
            "household_type": pa.array(["former_poor"] * n),
            "members": pa.array([3] * n, pa.int64()),
            "max_inpatient_self_pay_12m": pa.array([40000.0] * n),
            "medical_self_pay_12m": pa.array([45000.0] * n),
            "net_income_pc_12m": pa.array([7000.0] * n),
        }
    )
    policy = screening.active_policy()
    return policy, ScreenResult(
        "2026-10", policy.policy_id, policy.content_hash, 8300.0, table, table, portraits, "bench-1"
    )


def measure(import_screening: Callable[..., Any], policy: Any, result: Any) -> dict[str, Any]:
    """Time (and count the statements of) a first import and a re-import of the same result."""
    from django.db import connection

    out: dict[str, Any] = {}
    statements = [0]

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    for label in ("first", "again"):
        statements[0] = 0
        with connection.execute_wrapper(count):
            begin = time.perf_counter()
            run = import_screening(result, policy=policy)
            out[f"{label}_s"] = round(time.perf_counter() - begin, 3)
        out[f"{label}_queries"] = statements[0]
        out[f"{label}_counts"] = [run.created, run.updated, run.merged, run.skipped]
    return out


def child(n: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from fangpin.warnings.actions import import_screening

    policy, result = prepare(n)
    return measure(import_screening, policy, result)


def run() -> list[dict[str, Any]]:
    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1"))
    n = max(100, int(int(os.environ.get("FANGPIN_BENCH_LEADS", "20000")) * scale))
    url = os.environ.get("FANGPIN_BENCH_DATABASE_URL", "")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fangpin-bench-leads-") as home:
        env = {**os.environ, "FANGPIN_HOME": home, "DJANGO_SETTINGS_MODULE": "fangpin.settings"}
        env.pop("DATABASE_URL", None)
        if url:
            _fresh_database(url)
            env["DATABASE_URL"] = url
        code = f"import json, benchmarks.bench_lead_import as b; print(json.dumps(b.child({n})))"
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        found = json.loads(done.stdout.strip().splitlines()[-1])
    database = "postgresql" if url else "sqlite"
    target = n * 60 / 75000
    for label in ("first", "again"):
        seconds = found[f"{label}_s"]
        rows.append(
            {
                "name": f"lead_import_{label}_{database}_{n}",
                "median_s": seconds,
                "baseline": round(target, 2),
                "ratio": round(seconds / target, 2),
                "target": f"{n:,} warnings in < {target:.1f} s; {found[f'{label}_queries']:,} statements, "
                f"created/updated/merged/skipped {found[f'{label}_counts']}",
            }
        )
    return rows
