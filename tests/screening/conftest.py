"""Fixtures for the screening tests (helpers in tinylake.py).

`screen_engine` runs a test on DuckDB and on Spark (local[2], one SparkSession per test process, stopped
at the end of the session). Spark cases are marked `spark`; they run in `make test`'s SQLite pass and are
skipped in its PostgreSQL pass (DATABASE_URL set): the pipeline is Django-free, so the second pass would
only repeat them (docs/screening.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fangpin.pipeline.engine import DuckDBEngine, Engine

ON_POSTGRES_PASS = bool(os.environ.get("DATABASE_URL"))


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Engine]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no hostname lookup warnings, no LAN exposure
    from fangpin.pipeline.engine import SMALL_DATA_CONF, SparkEngine, stop_spark

    eng = SparkEngine(SMALL_DATA_CONF)
    yield eng
    stop_spark()


ENGINES = [
    "duckdb",
    pytest.param(
        "spark",
        marks=[
            pytest.mark.spark,
            pytest.mark.skipif(ON_POSTGRES_PASS, reason="Spark runs in the SQLite pass only (Django-free)"),
        ],
    ),
]


@pytest.fixture(params=ENGINES)
def screen_engine(request: pytest.FixtureRequest, engine: DuckDBEngine) -> Engine:
    if request.param == "duckdb":
        return engine
    spark: Engine = request.getfixturevalue("spark_engine")
    return spark
