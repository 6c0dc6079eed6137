"""Serving the web UI together with the background-job worker (uploads, exports) and the clock (deadline
escalations, notification retries), for the demo and for a single-machine installation. Larger
installations run `fangpin manage db_worker` and `fangpin manage periodic` as their own services.

The web server is gunicorn (ADR 0017): several worker processes (one per core and one more, times two),
each with a few threads, static files from the package through whitenoise. `dev=True` (or a platform
without gunicorn) runs Django's single-process development server instead.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from types import FrameType

from django.conf import settings

THREADS = 2  # per worker: a request waiting on the database does not hold the whole process
CONN_MAX_AGE_S = 60  # persistent database connections of the gunicorn workers (checked before reuse)
TIMEOUT_S = 120  # a worker silent longer than this is restarted (large exports run in the background)


def default_workers() -> int:
    """gunicorn's rule of thumb, (2 × cores) + 1, or FANGPIN_WEB_WORKERS."""
    wanted = os.environ.get("FANGPIN_WEB_WORKERS", "").strip()
    if wanted:
        return max(1, int(wanted))
    return 2 * (os.cpu_count() or 1) + 1


def gunicorn_argv(host: str, port: int, workers: int | None = None, threads: int = THREADS) -> list[str]:
    """The command line of the production web server (same interpreter, settings and FANGPIN_HOME)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "fangpin.wsgi:application",
        "--config",
        "python:fangpin.web.gunicorn_conf",  # each worker loads the policy and model at start
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers or default_workers()),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        str(TIMEOUT_S),
        "--graceful-timeout",
        "10",
        "--no-control-socket",  # several servers on one machine (tests, benchmarks) must not collide
        "--error-logfile",
        "-",
        *(["--access-logfile", "-"] if settings.DEBUG else []),
    ]


def gunicorn_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The web server's environment: database connections kept open between requests (60 s) unless
    FANGPIN_DB_CONN_MAX_AGE says otherwise — a gunicorn thread lives long, so each keeps one connection
    instead of opening one per request (the development server's threads do not, so it keeps 0)."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("FANGPIN_DB_CONN_MAX_AGE", str(CONN_MAX_AGE_S))
    return env


def dev_argv(host: str, port: int) -> list[str]:
    """Django's threaded development server (one process): `fangpin serve --dev`."""
    return [sys.executable, "-m", "fangpin.cli", "manage", "runserver", f"{host}:{port}", "--noreload"]


def has_gunicorn() -> bool:
    return importlib.util.find_spec("gunicorn") is not None  # gunicorn runs on Unix only


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the web server and the helpers like Ctrl+C does


def serve(host: str, port: int, *, workers: int | None = None, dev: bool = False) -> int:
    """Run the web server with the job worker and the clock until interrupted; the web server's exit code."""
    if not dev and not has_gunicorn():
        sys.stderr.write(
            "gunicorn 不可用，改用开发服务器 / gunicorn unavailable, using the development server\n"
        )
        dev = True
    from fangpin.exchange.actions import recover_interrupted

    # an import the previous worker was running when it died stays "processing" forever otherwise
    recover_interrupted()
    helpers: list[subprocess.Popen[bytes]] = []
    # Same interpreter, same settings and FANGPIN_HOME (inherited environment).
    if settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db"):
        helpers.append(
            subprocess.Popen([sys.executable, "-m", "fangpin.cli", "manage", "db_worker", "--interval", "1"])
        )
    # the clock: deadline escalations and notification retries happen without anyone opening a page
    helpers.append(subprocess.Popen([sys.executable, "-m", "fangpin.cli", "manage", "periodic"]))
    if dev:
        web = subprocess.Popen(dev_argv(host, port))
    else:
        web = subprocess.Popen(gunicorn_argv(host, port, workers), env=gunicorn_env())
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return web.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in (web, *helpers):
            if process.poll() is None:
                process.terminate()
        for process in (web, *helpers):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
