"""gunicorn hooks of `fangpin serve` (passed as `-c python:fangpin.web.gunicorn_conf`).

A pushed event re-scores its household inside the request and must create the lead within a second
(issue 5). Each worker process would otherwise load the policy in force (~1 s: every rule is bound in
DuckDB) and the risk model with its explanation tables on its first push, making that push take seconds
after every start or worker restart. The worker loads both in a background thread as soon as it has
loaded the application, while it already serves requests.
"""

from __future__ import annotations

import threading
import time
from typing import Any


def post_worker_init(worker: Any) -> None:
    thread = threading.Thread(target=warm_worker, args=(worker.log,), name="fangpin-warm", daemon=True)
    thread.start()


def warm_worker(log: Any) -> None:
    from fangpin.warnings.screening import warm

    started = time.perf_counter()
    try:
        warm()
    except Exception:  # noqa: BLE001 - a broken policy must not stop the worker; the push reports it
        log.exception("fangpin: loading the screening policy and model failed")
        return
    log.info("fangpin: screening policy and model loaded in %.1f s", time.perf_counter() - started)
