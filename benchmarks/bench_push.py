# ruff: noqa: S310, S608 - the benchmark posts to its own server (http://127.0.0.1) and runs SQL over names it wrote
"""The incremental path end to end at province scale (issue 5): one event pushed through the exchange API
re-scores its household and creates the warning, target < 1 s per push.

What is loaded: a bench lake (FANGPIN_BENCH_LAKE=DIR, built there by bench_screen.build_lake when missing;
without it one of FANGPIN_BENCH_SCALE × 10 M persons is built in a temporary directory and removed) and, in
the PostgreSQL database FANGPIN_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
fangpin_bench_push; created if missing): the migrations, the Jiangxi regions (`fangpin regions load
--province 36`), the household registry copied from the lake's ps_person snapshot of 2026-10 with COPY —
Person.pk = person_key and Household.pk = household_key as the bench lake's linker numbered them (so the
lake and the registry agree), the household type from the roster, persons no longer `normal` with their
membership ended — reused while the database holds the registry of the same lake and size; a
medical-insurance department token; no policy and no model loaded, so the app screens with the default
Jiangxi policy and the shipped risk model, as a fresh installation does.

The pushes never touch the bench lake: copy-on-write is not available, so each run makes a scratch lake
next to it whose every file is a hard link (os.link) to the bench lake's file. That is safe because the
lake never writes into an existing file — a commit writes new files and renames them into place, caches
(_derived/, _models/) are written to a temporary name and renamed — so the scratch lake gets the new files
and the bench lake keeps its own. The scratch lake is removed at the end. It also receives what the exact-ID
fast path of a small push needs and the app would have: a linkage model (_models/linkage.json, trained on
a random sample of 20,000 registry persons — the exact-ID path only needs the file; a bulk import trains on
the whole registry), and the unseen-income medians of the month (_derived/), computed by one re-score
before the clock as the monthly screening would have.

The server is the one fangpin ships (`fangpin serve`: gunicorn, (2 × cores) + 1 worker processes of 2
threads). A worker process's first push parses the policy and loads the model (seconds), so first two
rounds of concurrent warm-up pushes, one per server thread at a time (a 500 元 chronic-outpatient
settlement, a person of another household), leave every worker as a running server has it; the slowest
warm-up push is reported as `cold_push_max_s`. Then the measured pushes, one after the other: an inpatient
discharge with 40,000 元 self-pay (POST /api/v1/exchange/events/ms_settlement with the token) for a distinct
random `normal` person of a household the roster does not list as monitored and that has no lead yet, each
timed from request to whole response. Afterwards the database is asked which of those households now have a
lead; a push that made none is counted (`pushes_without_lead`), not hidden. Reported: p50 (median_s), p99,
max, leads created, the app's own re-score time (its INFO log line) and the setup costs, the registry and
lake sizes; baseline = the 1 s target, ratio = p99 / 1 s.

Environment: FANGPIN_BENCH_LAKE, FANGPIN_BENCH_SCALE (the lake built when FANGPIN_BENCH_LAKE holds none),
FANGPIN_BENCH_DATABASE_URL, FANGPIN_BENCH_PUSHES (default 30), FANGPIN_WEB_WORKERS.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.bench_dashboard import PROVINCE, _ensure_database, start_server
from benchmarks.bench_screen import PERIODS, PERSONS, build_lake

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/fangpin_bench_push"
PERIOD = PERIODS[-1]  # the month the events are pushed for (the lake's latest)
SELF_PAY = 40_000  # 元: a discharge the medical rule (MED-01, > 10,000 元 inpatient self-pay) warns about
TARGET_S = 1.0
LINKAGE_SAMPLE = 20_000
WARMUP_ROUNDS = 2  # rounds of concurrent warm-up pushes, one push per server thread each
NOW = "2026-11-05 10:00:00+08"


# --- the scratch lake (parent) -------------------------------------------------------------------------


def scratch_lake(lake_dir: Path, scratch: Path) -> Path:
    """A lake at `scratch` whose files are hard links to lake_dir's: what a push writes stays there."""
    for folder, _dirs, files in os.walk(lake_dir):
        relative = Path(folder).relative_to(lake_dir)
        if relative.parts[:1] == ("_staging",):
            continue  # an interrupted commit's leftovers (recover() would remove them)
        (scratch / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            if name != ".lock":
                os.link(Path(folder) / name, scratch / relative / name)
    return scratch


def _lake_mb(lake_dir: Path) -> float:
    return sum(p.stat().st_size for p in lake_dir.rglob("*") if p.is_file()) / 1e6


def _candidates(lake_dir: Path, count: int, seed: int = 5) -> pa.Table:
    """`count` persons (id_number, household_key) in a random order, one per household, of households the
    roster does not list as monitored, each person `normal`."""
    from fangpin.pipeline.lake import Lake

    lake = Lake(lake_dir)
    persons = lake.read("ps_person", PERIOD, columns=["id_number", "status", "household_key"])
    persons = persons.filter(pc.equal(persons.column("status"), "normal"))
    roster = lake.read("ag_roster", PERIOD, columns=["monitor_status", "household_key"])
    monitored = roster.filter(pc.equal(roster.column("monitor_status"), "monitored")).column("household_key")
    persons = persons.filter(pc.invert(pc.is_in(persons.column("household_key"), value_set=monitored)))
    household_of = persons.column("household_key").to_numpy()
    picked: list[int] = []
    seen: set[int] = set()
    for i in np.random.default_rng(seed).permutation(persons.num_rows):
        key = int(household_of[i])
        if key not in seen:
            seen.add(key)
            picked.append(int(i))
            if len(picked) == count:
                break
    return persons.take(picked).select(["id_number", "household_key"])


# --- setup in a child process with Django --------------------------------------------------------------


def setup(lake_dir: str, scratch: str, warm_household: int) -> dict[str, Any]:
    """(in a child with Django set up, FANGPIN_LAKE = the scratch lake) the database, the registry, the
    token, the linkage model and the month's cached imputation. Returns the token and what it cost."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from benchmarks.bench_dashboard import loaded_persons
    from fangpin.accounts.models import User
    from fangpin.exchange import actions
    from fangpin.pipeline.lake import Lake
    from fangpin.pipeline.linkage import train_model
    from fangpin.pipeline.screen import screen
    from fangpin.regions.models import Region
    from fangpin.registry.models import Household, Person
    from fangpin.warnings import screening

    call_command("migrate", verbosity=0)
    if Region.objects.filter(prefix__startswith=PROVINCE).count() < 20000:
        call_command("load_regions", PROVINCE, source="", verbosity=0)
    lake = Lake(Path(scratch))
    persons = sum(r.rows for r in lake.visible(lake.catalog["ps_person"], PERIOD))
    what = f"lake {Path(lake_dir).resolve()} {PERIOD}"
    load_s = 0.0
    if loaded_persons(connection, what) != persons:
        begin = time.perf_counter()
        _fill_registry_from_lake(connection, lake, what)
        load_s = time.perf_counter() - begin
    admin, _ = User.objects.get_or_create(
        username="bench_secadmin", defaults={"role": "security_admin", "region_id": PROVINCE}
    )
    _, token = actions.create_token(department="medical_security", name="bench_push", actor=admin)

    begin = time.perf_counter()
    # the registry as exchange.actions.registry_table() gives it to the linker, a random sample of it
    columns = ["person_key", "id_number", "name", "gender", "birth_date", "household_key", "household_no"]
    registry = lake.read("ps_person", PERIOD, columns=[*columns, "village_code", "status"])
    registry = registry.filter(pc.equal(registry.column("status"), "normal"))
    sample = np.random.default_rng(3).choice(registry.num_rows, min(LINKAGE_SAMPLE, registry.num_rows), False)
    model = train_model(registry.take(np.sort(sample)).select([*columns, "village_code"]))
    (Path(scratch) / "_models").mkdir(exist_ok=True)
    model.save(Path(scratch) / "_models" / "linkage.json")
    train_s = time.perf_counter() - begin

    # what the monthly screening leaves behind: the month's unseen-income medians (one re-score makes them)
    begin = time.perf_counter()
    screen(
        Lake(Path(scratch), catalog=actions.active_catalog()),
        PERIOD,
        screening.active_policy(),
        ranker=screening.active_ranker(),
        households=[warm_household],
    )
    first_rescore_s = time.perf_counter() - begin
    return {
        "token": token,
        # what the database holds (not what the lake says it should)
        "registry_persons": Person.objects.count(),
        "registry_households": Household.objects.count(),
        "registry_load_s": round(load_s, 1),
        "linkage_train_s": round(train_s, 1),
        "first_rescore_s": round(first_rescore_s, 1),
    }


def _fill_registry_from_lake(connection: Any, lake: Any, what: str) -> None:
    """The registry as the lake's ps_person snapshot has it (keys kept), loaded with COPY in CSV chunks."""
    import io

    import pyarrow.csv as pcsv

    from benchmarks.bench_dashboard import clear_registry, copy_rows, finish_registry
    from fangpin.pipeline.engine import DuckDBEngine

    # the engine reads the snapshot's Parquet file itself (10 million rows need not pass through Python)
    tables = {
        "p": lake.source("ps_person", PERIOD),
        "r": lake.source("ag_roster", PERIOD, columns=["household_no", "household_type"]),
    }
    engine = DuckDBEngine(threads=2)
    queries = {
        "registry_household": f"""
            SELECT p.household_key AS id, min(p.household_no) AS household_no,
                   coalesce(max(r.household_type), 'ordinary') AS household_type,
                   min(p.village_code) AS village_id, '{NOW}' AS created_at, NULL::DATE AS closed_on, 1 AS version
            FROM p LEFT JOIN r USING (household_no) GROUP BY p.household_key ORDER BY p.household_key""",
        "registry_person": """
            SELECT person_key AS id, id_number, name, gender, birth_date, '' AS labour_capacity, status,
                   status_date, 1 AS version
            FROM p ORDER BY person_key""",
        # a person no longer `normal` (moved out, deceased) keeps an ended membership, like the police snapshot
        "registry_membership": """
            SELECT person_key AS id, person_key AS person_id, household_key AS household_id, relation,
                   greatest(birth_date, DATE '2020-01-01') AS start_date, 'registered' AS start_reason,
                   CASE WHEN status = 'normal' THEN NULL
                        ELSE greatest(status_date, birth_date, DATE '2020-01-01') END AS end_date,
                   CASE WHEN status = 'normal' THEN '' ELSE status END AS end_reason
            FROM p ORDER BY person_key""",
    }
    clear_registry(connection)
    # all_valid quotes every value, so an empty string stays empty and only NULL is an unquoted empty field
    options = pcsv.WriteOptions(include_header=False, quoting_style="all_valid")
    for table, sql in queries.items():
        rows = engine.query(sql, tables)
        if table == "registry_person":
            rows = _encrypted_ids(rows)
        for start in range(0, rows.num_rows, 500_000):
            buffer = io.BytesIO()
            pcsv.write_csv(rows.slice(start, 500_000), buffer, options)
            copy_rows(connection, table, ", ".join(rows.column_names), buffer.getvalue(), csv=True)
        print(f"{table}: {rows.num_rows:,}", file=sys.stderr, flush=True)
        loaded = rows.num_rows
    finish_registry(connection, loaded, what)  # the persons (and memberships: one each)


def _encrypted_ids(rows: Any) -> Any:
    """The ID column encrypted and its blind indexes added (CRY-02): COPY bypasses the model field."""
    from fangpin.registry.models import Person
    from fangpin.web.fields import encrypt_column, index_column

    numbers = rows.column("id_number").to_pylist()
    at = rows.column_names.index("id_number")
    rows = rows.set_column(
        at, "id_number", pa.array(encrypt_column(Person, "id_number", numbers), pa.string())
    )
    rows = rows.append_column("id_number_index", pa.array(index_column(Person, "id_number_index", numbers)))
    id14 = index_column(Person, "id14_index", [n[:14] for n in numbers])
    return rows.append_column("id14_index", pa.array(id14, pa.string()))


# --- the pushes (parent, against the server) ----------------------------------------------------------


def settlement(id_number: str, settlement_id: str, self_pay: float, visit_type: str) -> dict[str, Any]:
    return {
        "settlement_id": settlement_id,
        "id_number": id_number,
        "settle_date": f"{PERIOD}-15",
        "visit_type": visit_type,
        "total_cost": self_pay * 2,
        "basic_paid": self_pay * 0.75,
        "critical_paid": self_pay * 0.2,
        "assistance_paid": self_pay * 0.05,
        "self_pay": self_pay,
    }


def push(base: str, token: str, row: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
    """POST one event; (seconds from request to the whole response, HTTP status, the JSON answer)."""
    body = json.dumps({"period": PERIOD, "rows": [row]}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/exchange/events/ms_settlement",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    begin = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    seconds = time.perf_counter() - begin
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = {"raw": payload[:200].decode(errors="replace")}
    return seconds, status, answer


def _warm_up(base: str, token: str, persons: list[dict[str, Any]], prefix: str, threads: int) -> list[float]:
    """Small pushes (no warning expected), `threads` at a time so that every worker process and thread of
    the server takes some: each parses the policy and loads the model on its first push. Their times."""
    from concurrent.futures import ThreadPoolExecutor

    def one(n: int) -> float:
        row = settlement(persons[n]["id_number"], f"{prefix}{n:03d}", 500, "outpatient_chronic")
        seconds, status, answer = push(base, token, row)
        if status != 200:
            raise RuntimeError(f"warm-up push: HTTP {status} {answer}")
        return seconds

    times: list[float] = []
    for start in range(0, len(persons), threads):
        with ThreadPoolExecutor(threads) as pool:
            times += pool.map(one, range(start, min(len(persons), start + threads)))
    return times


def _households_with_leads(url: str, households: list[int]) -> set[int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT household_id FROM warnings_lead WHERE household_id = ANY(%s) AND period = %s",
            [households, PERIOD],
        ).fetchall()
    return {int(r[0]) for r in rows}


def _rescore_seconds(log: Path) -> list[float]:
    """The app's own timing of each re-score (warnings.screening logs it at INFO)."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [float(line.rsplit(" ", 2)[-2]) for line in lines if "re-scored" in line and line.endswith(" s")]


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run() -> list[dict[str, Any]]:
    scale = float(os.environ.get("FANGPIN_BENCH_SCALE", "1.0"))
    url = os.environ.get("FANGPIN_BENCH_DATABASE_URL", DEFAULT_URL)
    pushes = int(os.environ.get("FANGPIN_BENCH_PUSHES", "30"))
    try:
        _ensure_database(url)
    except Exception as exc:  # no PostgreSQL here: say so instead of failing the other benchmarks
        print(f"bench_push skipped: PostgreSQL not reachable at {url}: {exc}", file=sys.stderr)
        return [{"name": "push_to_lead (skipped)", "median_s": "", "baseline": "", "ratio": ""}]
    keep = os.environ.get("FANGPIN_BENCH_LAKE")
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="fangpin-bench-push-"))
    lake_dir = build_lake(max(int(PERSONS * scale), 20_000), root)
    work = Path(tempfile.mkdtemp(prefix="push-scratch-", dir=lake_dir.parent))  # same file system: hard links
    home = work / "home"
    server = None
    try:
        lake = scratch_lake(lake_dir, work / "lake")
        from fangpin.pipeline.lake import Lake

        bench = Lake(lake_dir)
        lake_persons = sum(r.rows for r in bench.visible(bench.catalog["ps_person"], PERIOD))
        lake_mb = _lake_mb(lake_dir)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "FANGPIN_HOME": str(home),
            "FANGPIN_LAKE": str(lake),
            "FANGPIN_LOG_LEVEL": "INFO",
            "DJANGO_SETTINGS_MODULE": "fangpin.settings",
        }
        env.pop("FANGPIN_DEBUG", None)
        from fangpin.web.server import THREADS, default_workers

        workers = default_workers()
        warmups = WARMUP_ROUNDS * workers * THREADS
        people = _candidates(lake_dir, 4 * (pushes + warmups) + 1)
        begin = time.perf_counter()
        code = (
            "import json, benchmarks.bench_push as b, sys; "
            "print(json.dumps(b.setup(sys.argv[1], sys.argv[2], int(sys.argv[3]))))"
        )
        warm_household = int(people.column("household_key")[0].as_py())
        done = subprocess.run(
            [sys.executable, "-c", code, str(lake_dir), str(lake), str(warm_household)],
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        prepared = json.loads(done.stdout.strip().splitlines()[-1])
        setup_s = time.perf_counter() - begin
        # households that already have a lead (an earlier run's) would be updated, not created: skip them
        keys = [int(k) for k in people.column("household_key").to_pylist()[1:]]
        taken = _households_with_leads(url, keys)
        fresh = [i + 1 for i, k in enumerate(keys) if k not in taken]
        if len(fresh) < pushes + warmups:
            raise RuntimeError(f"only {len(fresh)} households without a lead left to push for")
        warm = people.take(fresh[:warmups]).to_pylist()
        chosen = people.take(fresh[warmups : warmups + pushes]).to_pylist()

        log = work / "server.log"
        with log.open("wb") as sink:
            server, base = start_server(env, sink)
        stamp = time.strftime("%Y%m%d%H%M%S")
        warm_s = _warm_up(base, prepared["token"], warm, f"BW{stamp}", workers * THREADS)
        rescores_before = len(_rescore_seconds(log))
        times, answers = [], []
        for n, person in enumerate(chosen):
            row = settlement(person["id_number"], f"BP{stamp}{n:03d}", SELF_PAY, "inpatient")
            seconds, status, answer = push(base, prepared["token"], row)
            times.append(seconds)
            answers.append((status, answer))
            print(f"  push {n + 1}: {seconds * 1000:.0f} ms, HTTP {status}, {answer}", file=sys.stderr)
        rescore = _rescore_seconds(log)[rescores_before:]
    finally:
        if server is not None:
            server.terminate()  # `fangpin serve` stops gunicorn, the job worker and the clock
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    households = [int(p["household_key"]) for p in chosen]
    with_lead = _households_with_leads(url, households)
    failed = [a for s, a in answers if s != 200 or a.get("accepted") != 1]
    p50, p99 = statistics.median(times), _percentile(times, 99)
    return [
        {
            "name": "push_to_lead",
            "median_s": round(p50, 3),
            "baseline": TARGET_S,
            "ratio": round(p99 / TARGET_S, 3),
            "p99_s": round(p99, 3),
            "max_s": round(max(times), 3),
            "pushes": len(times),
            "leads_created": len(with_lead),
            "pushes_without_lead": len(households) - len(with_lead),
            "pushes_not_accepted": len(failed),
            "rescore_p50_s": round(statistics.median(rescore), 3) if rescore else None,
            "rescore_p99_s": round(_percentile(rescore, 99), 3) if rescore else None,
            "cold_push_max_s": round(max(warm_s), 3),
            "warmup_pushes": len(warm_s),
            "web_workers": workers,
            "registry_persons": prepared["registry_persons"],
            "registry_households": prepared["registry_households"],
            "lake_persons": lake_persons,
            "lake_mb": round(lake_mb, 1),
            "registry_load_s": prepared["registry_load_s"],
            "linkage_train_s": prepared["linkage_train_s"],
            "first_rescore_s": prepared["first_rescore_s"],  # incl. the month's imputation cache
            "setup_s": round(setup_s, 1),
            "scale": scale,
            "cores": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "target_s": TARGET_S,
            "meets_target": p99 < TARGET_S and len(with_lead) == len(households),
        }
    ]


if __name__ == "__main__":
    for result in run():
        print(json.dumps(result, ensure_ascii=False))
