"""`fangpin serve` runs gunicorn (several worker processes), not Django's development server (ADR 0017)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fangpin.web import server


def test_it_runs_gunicorn_with_two_workers_per_core_plus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FANGPIN_WEB_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)

    argv = server.gunicorn_argv("10.0.0.5", 8123)

    assert argv[1:4] == ["-m", "gunicorn", "fangpin.wsgi:application"]
    assert argv[argv.index("--bind") + 1] == "10.0.0.5:8123"
    assert argv[argv.index("--workers") + 1] == "7"
    assert argv[argv.index("--worker-class") + 1] == "gthread"


def test_it_takes_the_worker_count_from_the_environment_or_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FANGPIN_WEB_WORKERS", "3")
    argv = server.gunicorn_argv("127.0.0.1", 8000)
    assert argv[argv.index("--workers") + 1] == "3"
    argv = server.gunicorn_argv("127.0.0.1", 8000, workers=2)
    assert argv[argv.index("--workers") + 1] == "2"


def test_it_keeps_database_connections_open_in_the_workers_unless_configured() -> None:
    assert server.gunicorn_env({"PATH": "/bin"})["FANGPIN_DB_CONN_MAX_AGE"] == "60"
    assert server.gunicorn_env({"FANGPIN_DB_CONN_MAX_AGE": "0"})["FANGPIN_DB_CONN_MAX_AGE"] == "0"


def test_it_keeps_the_development_server_for_dev() -> None:
    argv = server.dev_argv("127.0.0.1", 8000)
    assert argv[-3:] == ["runserver", "127.0.0.1:8000", "--noreload"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_it_answers_the_health_check_and_static_files_from_real_gunicorn_workers(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "FANGPIN_HOME": str(tmp_path), "FANGPIN_WEB_WORKERS": "2"}
    env.pop("DATABASE_URL", None)  # its own SQLite file: the health check only runs SELECT 1
    web = subprocess.Popen(
        server.gunicorn_argv("127.0.0.1", port), env=server.gunicorn_env(env), stderr=subprocess.PIPE
    )
    try:
        body = b""
        deadline = time.monotonic() + 60  # a loaded 2-core machine starts two workers slowly
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = response.read()
                break
            except OSError:
                assert web.poll() is None, "gunicorn exited"
                time.sleep(0.2)
        assert body == b'{"status": "ok"}'
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/static/fangpin/analytics/charts.js", timeout=5
        ) as response:
            assert response.status == 200
            assert b"echarts" in response.read()
    finally:
        web.terminate()
        _, err = web.communicate(timeout=15)
    assert err.count(b"Booting worker") >= 2


@pytest.mark.django_db
def test_each_worker_loads_the_policy_and_model_before_the_first_push(settings: Any, tmp_path: Path) -> None:
    from fangpin.warnings import screening
    from fangpin.web import gunicorn_conf

    settings.FANGPIN_HOME = str(tmp_path)
    screening._policy_cache.clear()
    screening._ranker_cache.clear()
    messages: list[str] = []

    class Log:
        def info(self, message: str, *args: object) -> None:
            messages.append(message % args)

        def exception(self, message: str, *args: object) -> None:
            messages.append("FAILED " + message % args)

    class Worker:
        log = Log()

    argv = server.gunicorn_argv("127.0.0.1", 8000)
    assert argv[argv.index("--config") + 1] == "python:fangpin.web.gunicorn_conf"
    gunicorn_conf.post_worker_init(Worker())
    warming = next(t for t in threading.enumerate() if t.name == "fangpin-warm")
    warming.join(timeout=60)
    assert messages and messages[0].startswith("fangpin: screening policy and model loaded"), messages
    assert screening._policy_cache and screening._ranker_cache  # the first push finds both loaded
