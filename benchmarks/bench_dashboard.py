# ruff: noqa: S310, S603, S608 - the benchmark runs its own server (http://127.0.0.1) and SQL over names it wrote
"""Load benchmark of the analytics dashboards on PostgreSQL (issue 7: p95 < 300 ms, province loaded).

What is loaded (docs/analytics.md says the same): the whole Jiangxi region tree (`fangpin regions load
--province 36`: 23,959 regions incl. 100 counties, 1,4xx townships, 22,xxx villages); a full-province
indicator table — every region × 12 months × the 18 summary indicators and the category / risk / channel
breakdowns (≈ 6.6 M rows), with village values drawn for a 10-million-person province (≈ 3 % of households
monitored) and summed upwards exactly as the refresh job does; and the registry of that province —
10 million persons (FANGPIN_BENCH_PERSONS) in ≈ 2.9 M households over every village, one membership each,
and the roster cases the drill-down's household list reads (≈ 3 % of households monitored, a tenth of them
eliminated since) — written with COPY and reused while the database holds the same number.

The server is the one fangpin ships, started as `fangpin serve` starts it (gunicorn, (2 × cores) + 1
worker processes, whitenoise, with the job worker and the clock next to it; FANGPIN_WEB_WORKERS sets the
worker count, FANGPIN_BENCH_SERVE_ARGS="--dev" measures the development server instead). The client is a
simple concurrent client (threads, keep-alive off, a signed-in session per user), requesting the province,
county, township and village dashboards, the printable report, the alert list and a township's household
list (pages 1–5) in random order, each with a random month of the table and a random map indicator (so a
realistic share of requests computes its page data; computed data is cached until the next refresh
finishes), plus the health check as the floor of the same server in the same run. Per page kind: median,
p95, max; `baseline` = the floor's p95 and `ratio` = p95 / floor p95 (the machine's load shows in the
floor), with the target p95 < 300 ms stated in the notes.

Environment: FANGPIN_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/fangpin_bench_dashboard;
created if missing, reused when already loaded), FANGPIN_BENCH_SCALE (shrinks the number of requests; below
0.5 also the table to 2 months), FANGPIN_BENCH_CONCURRENCY (default 4), FANGPIN_BENCH_PERSONS (default
10,000,000), FANGPIN_WEB_WORKERS, FANGPIN_BENCH_SERVE_ARGS.
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
PERSONS = 10_000_000  # the province; FANGPIN_BENCH_PERSONS changes it
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
    with connection.cursor() as cur:  # a table loaded before the covering index: as autovacuum would leave it
        cur.execute(
            "SELECT coalesce(last_vacuum, last_autovacuum) IS NULL FROM pg_stat_user_tables"
            " WHERE relname = 'analytics_indicator'"
        )
        if cur.fetchone()[0]:
            cur.execute("VACUUM (ANALYZE) analytics_indicator")
    # every run starts as just after a refresh: no page data cached yet (the cache table persists)
    from django.core.cache import cache

    cache.clear()
    persons = int(os.environ.get("FANGPIN_BENCH_PERSONS", str(PERSONS)))
    if loaded_persons(connection) != persons:
        _fill_registry(connection, persons)
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
        copy_rows(
            connection,
            "analytics_indicator",
            "region, level, month, code, dimension, value, numerator, denominator, households, computed_at",
            buffer.getvalue(),
        )
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
        cur.execute("VACUUM (ANALYZE) analytics_indicator")  # what autovacuum does after the refresh
    print(f"indicator rows: {rows_written:,}", file=sys.stderr)


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程魏苏吕丁任沈姚卢钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严覃武戴莫孔汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建国文辉春梅海燕林金凤小云福生荣"


def _fill_registry(connection: Any, persons: int) -> None:
    """The household registry of a `persons`-person province (≈ 3.5 persons per household, spread over every
    village like the indicator table) and the roster cases the drill-down lists (≈ 3 % of households
    monitored, a tenth of them since eliminated), loaded with COPY. Replaces whatever registry was there."""
    import datetime as dt

    import numpy as np

    from fangpin.lib.idcard import CHECK_CHARS, WEIGHTS
    from fangpin.regions.models import Region

    rng = np.random.default_rng(11)
    villages = list(
        Region.objects.filter(level="village", prefix__startswith=PROVINCE)
        .order_by("prefix")
        .values_list("prefix", flat=True)
    )
    n_households = max(len(villages), round(persons / 3.5))
    weights = rng.gamma(4.0, 30.0, len(villages))
    per_village = rng.multinomial(n_households, weights / weights.sum())
    village_of = np.repeat(np.arange(len(villages)), per_village)  # household index → village index
    sizes = 1 + rng.multinomial(persons - n_households, np.full(n_households, 1 / n_households))
    first_person = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # ID numbers: county of the household, a birth date and a sequence unique per person, the check digit
    county_digits = {v[:6] for v in villages}
    area_sum = {c: sum(int(d) * w for d, w in zip(c, WEIGHTS[:6], strict=True)) for c in county_digits}
    epoch = dt.date(1940, 1, 1)
    now = "2026-11-05 10:00:00+08"
    clear_registry(connection)

    def copy(table: str, columns: str, lines: list[str]) -> None:
        copy_rows(connection, table, columns, "".join(lines))

    chunk = 250_000
    for start in range(0, n_households, chunk):
        ids = range(start, min(n_households, start + chunk))
        lines = []
        for h in ids:
            v = villages[village_of[h]]
            kind = "former_poor" if h % 7 == 0 else "ordinary"
            lines.append(f"{h + 1}\t{v}{h % 100000:05d}\t{kind}\t{v}\t{now}\t\\N\t1\n")
        copy(
            "registry_household",
            "id, household_no, household_type, village_id, created_at, closed_on, version",
            lines,
        )
    print(f"households: {n_households:,}", file=sys.stderr, flush=True)
    household_of = np.repeat(np.arange(n_households), sizes)  # person index → household index
    date_digits = [
        sum(
            int(d) * w
            for d, w in zip((epoch + dt.timedelta(days=k)).strftime("%Y%m%d"), WEIGHTS[6:14], strict=True)
        )
        for k in range(29_000)
    ]
    seq_digits = [sum(int(d) * w for d, w in zip(f"{q:03d}", WEIGHTS[14:], strict=True)) for q in range(1000)]
    surname = rng.integers(0, len(SURNAMES), persons)
    given = rng.integers(0, len(GIVEN), (persons, 2))
    for start in range(0, persons, chunk):
        people, members, numbers = [], [], []
        for i in range(start, min(persons, start + chunk)):
            h = int(household_of[i])
            county = villages[village_of[h]][:6]
            day, seq = (i // 1000) % 29_000, i % 1000
            born = epoch + dt.timedelta(days=day)
            check = CHECK_CHARS[(area_sum[county] + date_digits[day] + seq_digits[seq]) % 11]
            id_number = f"{county}{born:%Y%m%d}{seq:03d}{check}"
            name = SURNAMES[surname[i]] + GIVEN[given[i, 0]] + (GIVEN[given[i, 1]] if i % 3 else "")
            gender = "1" if seq % 2 else "2"
            people.append(f"{i + 1}\t{id_number}\t{name}\t{gender}\t{born}\tordinary\tnormal\t\\N\t1\n")
            numbers.append(id_number)
            relation = "01" if i == first_person[h] else ("02" if i == first_person[h] + 1 else "03")
            members.append(f"{i + 1}\t{i + 1}\t{h + 1}\t{relation}\t2020-01-01\tregistered\t\\N\t\n")
        copy(
            "registry_person",
            "id, id_number, name, gender, birth_date, labour_capacity, status, status_date, version, "
            "id_number_index, id14_index",
            encrypted_people(people, numbers),
        )
        copy(
            "registry_membership",
            "id, person_id, household_id, relation, start_date, start_reason, end_date, end_reason",
            members,
        )
        print(f"persons: {min(persons, start + chunk):,}", file=sys.stderr, flush=True)
    # the roster: identification cases monitored in the last year; a tenth since eliminated (excluded)
    monitored = np.sort(rng.choice(n_households, size=max(1, n_households * 3 // 100), replace=False))
    cases, case_id = [], 0
    categories = ["unstable", "marginal", "sudden"]
    risks = ["01", "01;04", "04", "02", "07", "01;07"]
    for k, h in enumerate(monitored):
        v = villages[village_of[h]]
        case_id += 1
        found = dt.datetime(2025, 11, 1, tzinfo=dt.UTC) + dt.timedelta(hours=int(h % 8000))
        decided = found + dt.timedelta(days=12)
        cases.append(
            f"{case_id}\tidentification\tmonitored\t\t{categories[k % 3]}\t{risks[k % 6]}\tf\t{decided.isoformat()}"
            f"\t{found.isoformat()}\t{found.isoformat()}\t{(found + dt.timedelta(days=15)).isoformat()}"
            f"\t{decided.isoformat()}\t\\N\t{{}}\t{{}}\t{{}}\t\t{now}\t1\t\\N\t{h + 1}\t\\N\t\\N\t\\N\t{v}\n"
        )
        if k % 10 == 9:
            identification = case_id
            case_id += 1
            cases.append(
                f"{case_id}\telimination\teliminated\t\t\t\tf\t\\N"
                f"\t{decided.isoformat()}\t{decided.isoformat()}\t{(decided + dt.timedelta(days=15)).isoformat()}"
                f"\t{(decided + dt.timedelta(days=10)).isoformat()}\t\\N\t{{}}\t{{}}\t{{}}\t\t{now}\t1\t\\N\t{h + 1}\t{identification}\t\\N\t\\N\t{v}\n"
            )
    copy(
        "cases_case",
        "id, kind, state, return_to, category, risk_types, green_channel, monitored_at, found_at, opened_at, "
        "deadline_at, decided_at, publicity_started_at, visit, comparison, review, reason, updated_at, version, "
        "assignee_id, household_id, identification_id, lead_id, opened_by_id, village_id",
        cases,
    )
    finish_registry(connection, persons)
    print(f"roster cases: {case_id:,}", file=sys.stderr, flush=True)


def encrypted_people(lines: list[str], numbers: list[str]) -> list[str]:
    """The person lines with the ID number encrypted and its two blind indexes appended (CRY-02): COPY
    bypasses the model field that would do it."""
    from fangpin.registry.models import Person
    from fangpin.web.fields import encrypt_column, index_column

    stored = encrypt_column(Person, "id_number", numbers)
    full = index_column(Person, "id_number_index", numbers)
    id14 = index_column(Person, "id14_index", [n[:14] for n in numbers])
    return [
        line.replace(number, cipher or "", 1).removesuffix("\n") + f"\t{a}\t{b}\n"
        for line, number, cipher, a, b in zip(lines, numbers, stored, full, id14, strict=True)
    ]


# --- COPY loading, shared with bench_push (which loads its registry from a bench lake) ------------------

REGISTRY_TABLES = ("registry_household", "registry_person", "registry_membership", "cases_case")


def copy_rows(connection: Any, table: str, columns: str, data: str | bytes, *, csv: bool = False) -> None:
    """COPY … FROM STDIN: tab-separated text (\\N for NULL) by default, or CSV (unquoted empty = NULL)."""
    options = " WITH (FORMAT csv)" if csv else ""
    with connection.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN{options}") as out:
        out.write(data)


def clear_registry(connection: Any) -> None:
    """Empty the registry (and the cases that point into it) before a COPY load replaces it."""
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(REGISTRY_TABLES)} RESTART IDENTITY CASCADE")


def finish_registry(connection: Any, persons: int, what: str = "persons") -> None:
    """After a COPY load: the id sequences past the loaded keys, fresh planner statistics, and a note of
    what was loaded (`what`, `persons`) so that the next run reuses it (see loaded_persons)."""
    with connection.cursor() as cur:
        for table in REGISTRY_TABLES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"
            )
            cur.execute(f"ANALYZE {table}")
        cur.execute("CREATE TABLE IF NOT EXISTS bench_loaded (what text PRIMARY KEY, n bigint)")
        cur.execute("DELETE FROM bench_loaded")  # one registry at a time: the note of the one replaced goes
        cur.execute("INSERT INTO bench_loaded VALUES (%s, %s)", [what, persons])


def loaded_persons(connection: Any, what: str = "persons") -> int:
    """How many persons the registry loaded as `what` holds (0: another one, or none)."""
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('bench_loaded') IS NOT NULL")
        if not cur.fetchone()[0]:
            return 0
        cur.execute("SELECT n FROM bench_loaded WHERE what = %s", [what])
        row = cur.fetchone()
    return int(row[0]) if row else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    env: dict[str, str], output: Any = subprocess.DEVNULL
) -> tuple[subprocess.Popen[bytes], str]:
    """The server exactly as a single-machine installation runs it, on a free local port: `fangpin serve`
    (gunicorn workers, the job worker and the clock next to it; FANGPIN_WEB_WORKERS and
    FANGPIN_BENCH_SERVE_ARGS, e.g. "--dev"), once it answers. (The process, its base URL.)"""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fangpin.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *os.environ.get("FANGPIN_BENCH_SERVE_ARGS", "").split(),
        ],
        env=env,
        stdout=output,
        stderr=output,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    time.sleep(2)  # every worker booted, not just the first
    return server, base


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
    server, base = start_server(env)
    try:
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
            # the bottom of the drill-down: a township's roster households (cases + registry), page 1..5
            "households": (f"/analytics/region/{COUNTY}100/households/?page=1", "bench_county"),
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
                if name == "households":
                    path = path.replace("page=1", f"page={rng.randint(1, 5)}")
                elif "indicator=" not in path and "?" in path and "report" not in path:
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
        server.terminate()  # `fangpin serve` stops gunicorn, the job worker and the clock
        server.wait(timeout=30)
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
