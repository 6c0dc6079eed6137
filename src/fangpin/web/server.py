"""Serving the web UI together with the background-job worker (uploads, exports) and the clock (deadline
escalations, notification retries), for the demo and for a single-machine installation. Larger
installations run `fangpin manage db_worker` and `fangpin manage periodic` as their own services."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings
from django.core.management import call_command


def serve(host: str, port: int) -> None:
    helpers: list[subprocess.Popen[bytes]] = []
    # Same interpreter, same settings and FANGPIN_HOME (inherited environment).
    if settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db"):
        helpers.append(
            subprocess.Popen([sys.executable, "-m", "fangpin.cli", "manage", "db_worker", "--interval", "1"])
        )
    # the clock: deadline escalations and notification retries happen without anyone opening a page
    helpers.append(subprocess.Popen([sys.executable, "-m", "fangpin.cli", "manage", "periodic"]))
    try:
        call_command("runserver", f"{host}:{port}", use_reloader=False)
    finally:
        for helper in helpers:
            helper.terminate()
        for helper in helpers:
            helper.wait(timeout=10)
