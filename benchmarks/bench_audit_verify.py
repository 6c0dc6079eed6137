"""`fangpin audit verify` over a long audit log (issue #14.5): rows per second and the memory it takes.

A child process (its own FANGPIN_HOME, so its own audit key and anchor file) migrates a fresh database —
SQLite under that home, or FANGPIN_BENCH_DATABASE_URL — writes FANGPIN_BENCH_AUDIT_ROWS (default 100,000,
× FANGPIN_BENCH_SCALE) chained rows the way `record()` makes them (same canonical form and HMAC, written
in batches of 5,000 instead of one transaction each), anchors the head, then times `verify_chain()`.
Reported: rows/s, the peak RSS, and the Python memory a second (traced) walk holds at its peak — the walk
streams, so that must not grow with the number of rows; baseline = none.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

BATCH = 5_000


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _fill(rows: int) -> None:
    from django.conf import settings
    from django.utils import timezone

    from fangpin.audit.models import HMAC_CHAIN, AuditEvent
    from fangpin.lib.anchors import GENESIS

    prev = GENESIS
    for start in range(0, rows, BATCH):
        batch = []
        for i in range(start, min(rows, start + BATCH)):
            event = AuditEvent(
                at=timezone.now(),
                actor_id=7,
                actor_username="zhang_township",
                actor_role="township_reviewer",
                actor_region="360722100",
                ip="10.0.0.7",
                request_id=f"{i:032x}",
                event_type="PI_REVEAL" if i % 10 == 0 else "HOUSEHOLD_VIEWED",
                object_type="person",
                object_id=str(100_000 + i),
                reason="入户核实" if i % 10 == 0 else "",
                data={"fields": ["id_number"], "n": i},
                prev_hash=prev,
                chain=HMAC_CHAIN,
            )
            event.hash = prev = event.compute_hash(settings.AUDIT_KEY)
            batch.append(event)
        AuditEvent.objects.bulk_create(batch)


def child(rows: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    from fangpin.audit.actions import anchor_head, verify_chain

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _fill(rows)
    fill_s = time.perf_counter() - started
    anchor_head()
    before = _peak_mb()
    started = time.perf_counter()
    report = verify_chain()
    verify_s = time.perf_counter() - started
    assert report.ok and report.checked == rows + 1, report
    tracemalloc.start()  # a second walk, traced: what verifying holds at its peak (not the fill's)
    verify_chain()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "name": f"audit_verify_{rows}",
        "median_s": round(verify_s, 2),
        "baseline": "",
        "ratio": "",
        "rows_per_s": round(report.checked / verify_s),
        "peak_rss_mb": _peak_mb(),
        "peak_rss_before_verify_mb": before,
        "verify_traced_peak_mb": round(traced_peak / 2**20, 1),
        "fill_s": round(fill_s, 1),
        "database": django.db.connection.vendor,
    }


def run() -> list[dict[str, Any]]:
    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    rows = max(1_000, round(int(os.environ.get("FANGPIN_BENCH_AUDIT_ROWS", "100000")) * scale))
    with tempfile.TemporaryDirectory() as home:
        env = os.environ | {"FANGPIN_HOME": home, "DJANGO_SETTINGS_MODULE": "fangpin.settings"}
        env.pop("DATABASE_URL", None)
        if os.environ.get("FANGPIN_BENCH_DATABASE_URL"):
            env["DATABASE_URL"] = os.environ["FANGPIN_BENCH_DATABASE_URL"]
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_audit_verify", str(rows)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return [json.loads(out.strip().splitlines()[-1])]


if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]))))
