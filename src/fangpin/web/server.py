"""Serving the web UI together with the background-job worker (uploads, exports), for the demo and for
a single-machine installation. Larger installations run `fangpin manage db_worker` as its own service."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings
from django.core.management import call_command


def serve(host: str, port: int) -> None:
    worker = None
    if settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db"):
        # Same interpreter, same settings and FANGPIN_HOME (inherited environment).
        worker = subprocess.Popen(
            [sys.executable, "-m", "fangpin.cli", "manage", "db_worker", "--interval", "1"]
        )
    try:
        call_command("runserver", f"{host}:{port}", use_reloader=False)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=10)
