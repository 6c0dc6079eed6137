"""Crash safety: an import killed with SIGKILL leaves no partial delivery; re-running equals a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from fangpin.lib.idcard import CHECK_CHARS, WEIGHTS
from fangpin.pipeline.ingest import ingest_file
from fangpin.pipeline.lake import PAUSE_ENV, Lake

CHILD = """
import sys
from pathlib import Path
from fangpin.pipeline.catalog import load_catalog
from fangpin.pipeline.ingest import ingest_file
from fangpin.pipeline.lake import Lake
catalog = load_catalog()
lake = Lake(Path(sys.argv[1]), catalog=catalog)
ingest_file(Path(sys.argv[2]), "ps_person", "2026-08", lake=lake, catalog=catalog, known_villages=None)
"""


def _person_csv(path: Path, n: int) -> Path:
    """n valid persons, vectorised (valid check characters, distinct IDs)."""
    rng = np.random.default_rng(5)
    days = rng.integers(0, 365 * 60, n)
    born = (np.datetime64("1950-01-01") + days.astype("timedelta64[D]")).astype(str)
    seq = np.arange(n) % 1000
    first17 = np.char.add(
        np.char.add("360722", np.char.replace(born, "-", "")), np.char.zfill(seq.astype(str), 3)
    )
    digits = np.frombuffer("".join(first17.tolist()).encode(), dtype=np.uint8).reshape(n, 17) - 48
    check = np.array(list(CHECK_CHARS))[(digits.astype(np.int64) @ np.array(WEIGHTS)) % 11]
    ids = np.char.add(first17, check)
    _, first = np.unique(ids, return_index=True)
    keep = np.sort(first)
    m = len(keep)
    table = pa.table(
        {
            "id_number": ids[keep],
            "name": np.full(m, "吴宏"),
            "gender": np.full(m, "1"),
            "birth_date": born[keep],
            "household_no": np.full(m, "3607221000030001"),
            "relation": np.full(m, "01"),
            "village_code": np.full(m, "360722100003"),
            "status": np.full(m, "normal"),
            "status_date": np.full(m, ""),
        }
    )
    pacsv.write_csv(table, path)
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _person_csv(tmp_path_factory.mktemp("kill") / "ps_person.csv", 150_000)


def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.02)


def test_killed_import_leaves_nothing_and_rerun_equals_clean_run(
    tmp_path: Path, big_csv: Path, catalog
) -> None:  # type: ignore[no-untyped-def]
    source = big_csv
    root = tmp_path / "lake"
    env = {**os.environ, PAUSE_ENV: "60"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(source)], env=env)
    try:
        # the worst moment: data and quarantine already moved into place, the marker not yet renamed
        _wait_for(lambda: any((root / "ps_person").glob("period=2026-08/*.parquet")))
        _wait_for(lambda: any((root / "_staging").glob("*/delivery.json")))
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL

    lake = Lake(root, catalog=catalog)
    assert lake.deliveries() == []
    assert lake.read("ps_person", "2026-08").num_rows == 0
    assert lake.find("ps_person", "2026-08", "x") is None

    report = ingest_file(source, "ps_person", "2026-08", lake=lake, catalog=catalog, known_villages=None)
    assert report.status == "accepted" and report.rejected == 0
    assert list((root / "_staging").iterdir()) == []
    assert [p.stem for p in (root / "ps_person").glob("period=2026-08/*.parquet")] == [report.delivery_id]

    clean = Lake(tmp_path / "clean", catalog=catalog)
    ingest_file(source, "ps_person", "2026-08", lake=clean, catalog=catalog, known_villages=None)
    got = lake.read("ps_person", "2026-08").drop(["_delivery_id"])
    want = clean.read("ps_person", "2026-08").drop(["_delivery_id"])
    assert got.num_rows == report.read > 140_000
    assert got.equals(want)


@pytest.mark.slow
def test_kill_while_staging(tmp_path: Path, big_csv: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    """Killed as soon as staging starts: whatever the moment, the delivery is all there or not at all."""
    source = big_csv
    root = tmp_path / "lake"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(source)])
    try:
        _wait_for(lambda: any((root / "_staging").glob("*")) or any((root / "_deliveries").glob("*.json")))
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    lake = Lake(root, catalog=catalog)
    committed = lake.deliveries()
    assert lake.read("ps_person", "2026-08").num_rows == (committed[0].rows if committed else 0)
    report = ingest_file(source, "ps_person", "2026-08", lake=lake, catalog=catalog, known_villages=None)
    assert report.status == ("duplicate" if committed else "accepted")
    assert lake.read("ps_person", "2026-08").num_rows == report.accepted
    assert list((root / "_staging").iterdir()) == []
