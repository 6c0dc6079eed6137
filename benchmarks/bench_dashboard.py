# ruff: noqa: S310, S603, S608 - the benchmark runs its own server (http://127.0.0.1) and SQL over names it wrote
"""Load benchmark of the analytics dashboards on PostgreSQL (issue 7: p95 < 300 ms, province loaded).

What is loaded (docs/analytics.md says the same): the whole Jiangxi region tree (`fangpin regions load
--province 36`: 23,959 regions incl. 100 counties, 1,4xx townships, 22,xxx villages) and a full-province
indicator table — every region × 12 months × the 18 summary indicators and the category / risk / channel
breakdowns (≈ 6 M rows), with village values drawn for a 10-million-person province (≈ 3 % of households
monitored) and summed upwards exactly as the refresh job does. The dashboards read only this table, so
its size — not the case tables' — is what a page's speed depends on. The case, lead and person tables are
NOT filled with 10 million persons here.

The server is the one fangpin ships (`fangpin serve`: Django's threaded server + whitenoise), one process;
the client is a simple concurrent client (threads, keep-alive off, a signed-in session per user),
requesting the province, county, township and village dashboards, the printable report and the alert list
in random order, each with a random month of the table and a random map indicator (so a realistic share
of requests computes its page data; computed data is cached until the next refresh finishes), plus the
health check as the floor of the same server in the same run. Per page kind: median, p95, max; `baseline`
= the floor's p95 and `ratio` = p95 / floor p95 (the machine's load shows in the floor), with the target
p95 < 300 ms stated in the notes.

Environment: FANGPIN_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/fangpin_bench_dashboard;
created if missing, reused when already loaded), FANGPIN_BENCH_SCALE (shrinks the number of requests; below
0.5 also the table to 2 months), FANGPIN_BENCH_CONCURRENCY (default 4).
"""

from __future__ import annotations

import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/fangpin_bench_dashboard"
TARGET_MS = 300.0
INDICATORS = [
    "monitored_households",
    "new_inclusions",
    "warnings_issued",
    "found_by_system_share",
    "within_deadline_share",
    "overdue_cases",
]
PROVINCE = "36"
COUNTY = "360722"


def _months(n: int) -> list[str]:
    out, y, m = [], 2026, 10
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return sorted(out)


def _ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup(months: int) -> dict[str, str]:
    """(in a child with Django set up) regions, users, sessions, the indicator table. Returns session keys."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from fangpin.accounts.models import User
    from fangpin.analytics.models import Indicator
    from fangpin.regions.models import Region

    call_command("migrate", verbosity=0)
    if Region.objects.filter(prefix__startswith=PROVINCE).count() < 20000:
        call_command("load_regions", PROVINCE, source="", verbosity=0)
    wanted = _months(months)
    have = set(
        Indicator.objects.filter(region=PROVINCE, code="monitored_households").values_list("month", flat=True)
    )
    if have != set(wanted):
        _fill_indicators(connection, wanted)
    keys = {}
    for username, role, region in (
        ("bench_province", "analyst", PROVINCE),
        ("bench_county", "county_approver", COUNTY),
    ):
        user, _ = User.objects.get_or_create(username=username, defaults={"role": role, "region_id": region})
        user.set_password("Bench-Dashboard-2026!")
        user.password_changed_at = timezone.now()
        user.must_change_password = False
        user.save()
        session = SessionStore()
        now = time.time()
        session.update(
            {
                SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                HASH_SESSION_KEY: user.get_session_auth_hash(),
                "login_at": now + 3600,  # the benchmark runs longer than nothing; the absolute limit is hours
                "last_seen": now,
            }
        )
        session.save()
        keys[username] = session.session_key or ""
    return keys


SUMMARY = [
    ("monitored_households", "count"),
    ("monitored_persons", "count"),
    ("new_inclusions", "count"),
    ("eliminations", "count"),
    ("elimination_rate", "ratio"),
    ("warnings_issued", "count"),
    ("warnings_verified", "count"),
    ("warnings_confirmed", "count"),
    ("warnings_per_confirmed", "ratio"),
    ("found_by_system_share", "ratio"),
    ("leads_verified_per_village", "ratio"),
    ("within_deadline_share", "ratio"),
    ("overdue_cases", "count"),
    ("assistance_coverage", "ratio"),
    ("income_pc", "ratio"),
    ("below_line_share", "ratio"),
]


def _fill_indicators(connection: Any, months: list[str]) -> None:
    """Village figures for a 10 M-person province (≈ 2.8 M households, ≈ 3 % monitored), summed upwards."""
    import numpy as np

    from fangpin.regions.models import Region

    rng = np.random.default_rng(7)
    villages = list(
        Region.objects.filter(level="village", prefix__startswith=PROVINCE).values_list("prefix", flat=True)
    )
    areas = list(
        Region.objects.filter(prefix__startswith=PROVINCE)
        .exclude(level__in=["village", "grid"])
        .values_list("prefix", flat=True)
    )
    n = len(villages)
    households = rng.gamma(4.0, 30.0, n)  # ≈ 120 households per village on average
    households *= 2_800_000 / households.sum()
    now = "2026-11-05 10:00:00+08"
    with connection.cursor() as cur:
        cur.execute("DELETE FROM analytics_indicator")
    buffer = io.StringIO()
    rows_written = 0

    def flush() -> None:
        nonlocal buffer
        buffer.seek(0)
        with (
            connection.cursor() as cur,
            cur.copy(
                "COPY analytics_indicator (region, level, month, code, dimension, value, numerator, denominator, households, computed_at) FROM STDIN"
            ) as copy,
        ):
            copy.write(buffer.getvalue())
        buffer = io.StringIO()

    level_of = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}
    for month in months:
        monitored = rng.poisson(households * 0.03)
        figures: dict[str, tuple[Any, Any]] = {
            "monitored_households": (monitored, None),
            "monitored_persons": (rng.poisson(monitored * 3.2), None),
            "new_inclusions": (rng.poisson(households * 0.002), None),
            "eliminations": (rng.poisson(households * 0.0015), None),
            "elimination_rate": (rng.binomial(monitored + 5, 0.3), monitored + 5),
            "warnings_issued": ((issued := rng.poisson(households * 0.006)), None),
            "warnings_verified": ((verified := rng.binomial(issued, 0.9)), None),
            "warnings_confirmed": ((confirmed := rng.binomial(verified, 0.13)), None),
            "warnings_per_confirmed": (issued, confirmed),
            "found_by_system_share": (rng.binomial(monitored, 0.72), monitored),
            "leads_verified_per_village": (rng.poisson(2.5, n), np.ones(n)),
            "within_deadline_share": (rng.binomial(verified, 0.93), verified),
            "overdue_cases": (rng.poisson(0.1, n), None),
            "assistance_coverage": (rng.binomial(monitored, 0.97), monitored),
            "income_pc": (monitored * rng.normal(11000, 2500, n).clip(3000), monitored),
            "below_line_share": (rng.binomial(monitored, 0.08), monitored),
        }
        for cat, share in (("unstable", 0.45), ("marginal", 0.4), ("sudden", 0.15)):
            figures[f"monitored_households|category:{cat}"] = (rng.binomial(monitored, share), None)
        for risk, share in (("01", 0.45), ("02", 0.1), ("04", 0.25), ("07", 0.15)):
            figures[f"monitored_households|risk:{risk}"] = (rng.binomial(monitored, share), None)
        for code, (num, den) in figures.items():
            code, _, dim = code.partition("|")
            kind = "ratio" if den is not None else "count"
            sums: dict[str, list[float]] = {}
            for i, v in enumerate(villages):
                d = float(den[i]) if den is not None else 0.0
                for k in (12, 9, 6, 4, 2):
                    s = sums.setdefault(v[:k], [0.0, 0.0])
                    s[0] += float(num[i])
                    s[1] += d
            for region in villages + areas:
                num_v, den_v = sums.get(region, [0.0, 0.0])
                if kind == "ratio":
                    value = num_v / den_v if den_v else None
                    hh = int(den_v)
                else:
                    value, hh = num_v, int(num_v)
                val = "\\N" if value is None else f"{value:.4f}"
                den_s = f"{den_v:.1f}" if kind == "ratio" else "\\N"
                buffer.write(
                    f"{region}\t{level_of[len(region)]}\t{month}\t{code}\t{dim}\t{val}\t{num_v:.1f}\t{den_s}\t{hh}\t{now}\n"
                )
                rows_written += 1
            if buffer.tell() > 50_000_000:
                flush()
        for region in areas + villages[:: max(1, len(villages) // 2000)]:
            for dim, value in (("median", 8.5), ("p90", 13.0)):
                buffer.write(
                    f"{region}\t{level_of[len(region)]}\t{month}\tdecision_days\t{dim}\t{value}\t\\N\t20\t20\t{now}\n"
                )
    flush()
    with connection.cursor() as cur:
        cur.execute("ANALYZE analytics_indicator")
    print(f"indicator rows: {rows_written:,}", file=sys.stderr)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, session: str) -> tuple[int, float]:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session}"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, (time.perf_counter() - start) * 1000


def run() -> list[dict[str, Any]]:
    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    url = os.environ.get("FANGPIN_BENCH_DATABASE_URL", DEFAULT_URL)
    concurrency = int(os.environ.get("FANGPIN_BENCH_CONCURRENCY", "4"))
    # the table is the province's full year; only a smoke run (scale < 0.5) loads 2 months
    months = 12 if scale >= 0.5 else 2
    requests_per_page = max(20, round(200 * scale))
    try:
        _ensure_database(url)
    except Exception as exc:  # no PostgreSQL here: say so instead of failing the other benchmarks
        print(f"bench_dashboard skipped: PostgreSQL not reachable at {url}: {exc}", file=sys.stderr)
        return [
            {
                "name": "dashboard (skipped)",
                "median_s": "",
                "baseline": "",
                "ratio": "",
                "target": "PostgreSQL needed",
            }
        ]
    home = Path(tempfile.mkdtemp(prefix="fangpin-bench-dashboard-"))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "FANGPIN_HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "fangpin.settings",
    }
    env.pop("FANGPIN_DEBUG", None)
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import json, benchmarks.bench_dashboard as b; print(json.dumps(b.setup({months})))",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    import json

    sessions = json.loads(done.stdout.strip().splitlines()[-1])
    setup_s = time.perf_counter() - started
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        month = _months(months)[-1]
        pages = {
            "province": (f"/analytics/region/{PROVINCE}/?month={month}", "bench_province"),
            "county": (f"/analytics/region/{COUNTY}/?month={month}", "bench_county"),
            "township": (
                f"/analytics/region/{COUNTY}100/?month={month}&indicator=within_deadline_share",
                "bench_county",
            ),
            "village": (f"/analytics/region/{COUNTY}100200/?month={month}", "bench_county"),
            "report": (f"/analytics/region/{COUNTY}/report/?month={month}", "bench_county"),
            "alerts": ("/analytics/alerts/", "bench_province"),
            # the floor: the health check (no session, no template) through the same server in the same run
            "floor": ("/healthz", "bench_county"),
        }
        for path, who in pages.values():  # warm-up (and a check that each page answers 200)
            status, _ = _get(base + path, sessions[who])
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}")
        work = [name for name in pages for _ in range(requests_per_page)]
        random.Random(1).shuffle(work)
        times: dict[str, list[float]] = {name: [] for name in pages}
        errors: list[str] = []
        lock = threading.Lock()
        rng = random.Random(2)
        month_list = _months(months)

        def worker() -> None:
            while True:
                with lock:
                    if not work:
                        return
                    name = work.pop()
                path, who = pages[name]
                # other months and map indicators too: a realistic mix of cached and freshly computed pages
                path = path.replace(f"month={month}", f"month={rng.choice(month_list)}")
                if "indicator=" not in path and "?" in path and "report" not in path:
                    path += f"&indicator={rng.choice(INDICATORS)}"
                status, ms = _get(base + path, sessions[who])
                with lock:
                    times[name].append(ms)
                    if status != 200:
                        errors.append(f"{name}: {status}")

        wall = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall_s = time.perf_counter() - wall
    finally:
        server.terminate()
        server.wait(timeout=10)
    rows = []
    total = sum(len(v) for v in times.values())

    def p95_of(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]

    floor = p95_of(times["floor"])
    for name, values in times.items():
        values.sort()
        p95 = p95_of(values)
        rows.append(
            {
                "name": f"dashboard_{name}",
                "median_s": round(statistics.median(values) / 1000, 4),
                "baseline": round(floor / 1000, 4),  # the floor page's p95 in this run
                "ratio": round(p95 / floor, 2),
                "p95_ms": round(p95, 1),
                "max_ms": round(values[-1], 1),
                "requests": len(values),
                "concurrency": concurrency,
                "throughput_rps": round(total / wall_s, 1),
                "errors": len([e for e in errors if e.startswith(name)]),
                "setup_s": round(setup_s, 1),
                "target": f"p95 < {TARGET_MS:.0f} ms (p95 {p95:.0f} ms: {'met' if p95 < TARGET_MS else 'NOT met'})",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
