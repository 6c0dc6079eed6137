"""Running the Django-free screening from the web side: the lake, the policy in force and the active
risk model, then `actions.import_screening`. Used by the background task, the CLI and the push API's
incremental path."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from fangpin.pipeline import policy as policy_mod
from fangpin.pipeline.engine import DuckDBEngine
from fangpin.pipeline.policy import Policy, Rule
from fangpin.pipeline.screen import Ranker, screen
from fangpin.warnings import actions
from fangpin.warnings.models import ScreeningRun

log = logging.getLogger(__name__)


def policies_dir() -> Path:
    return Path(settings.FANGPIN_HOME) / "policies"


def models_dir() -> Path:
    return Path(settings.FANGPIN_HOME) / "models"


_cache_lock = threading.Lock()
_policy_cache: dict[tuple[str, str, float], Policy] = {}
_engines = threading.local()


def _policy_key(folder: Path) -> tuple[str, str, float]:
    active = folder / "active"
    name = active.read_text(encoding="utf-8").strip() if active.exists() else ""
    path = folder / name if name else policy_mod.DEFAULT_POLICY
    return (str(folder), str(path), path.stat().st_mtime if path.exists() else 0.0)


def active_policy() -> Policy:
    """The policy in force: the one cached service for it (screening, re-scoring, the monitoring line of
    cases and indicators). Parsed once per version: validating binds every rule in DuckDB (~1 s, too slow
    to repeat per pushed event or per month of a comparison). The key is the `active` pointer and the
    file's mtime, so a policy activated by another process (`fangpin screen policy load`) is seen on the
    next call; the file loaded is the one the key names, even if the pointer moved in between."""
    key = _policy_key(policies_dir())
    with _cache_lock:
        found = _policy_cache.get(key)
    if found is None:
        found = policy_mod.load_policy(Path(key[1]))
        with _cache_lock:
            _policy_cache[key] = found
    return found


def monitoring_line(year: int) -> float:
    """The monitoring line in force for `year` (元 per capita per year; POLICY.md: per province and year)."""
    return active_policy().line(year)


def policy_of(policy_hash: str) -> Policy:
    """The exact policy version a warning was made with (stored versions are named by their hash), else
    the one in force."""
    if policy_hash:
        stored = policies_dir() / f"{policy_hash[:16]}.yaml"
        if stored.is_file():
            with _cache_lock:
                found = _policy_cache.get(("hash", policy_hash, 0.0))
            if found is None:
                found = policy_mod.load_policy(stored)
                with _cache_lock:
                    _policy_cache[("hash", policy_hash, 0.0)] = found
            return found
    return active_policy()


def rules_of(policy_hash: str) -> dict[str, Rule]:
    try:
        return {r.id: r for r in policy_of(policy_hash).rules}
    except (policy_mod.PolicyError, OSError):  # an unreadable policy file must not hide the lead
        return {}


def _engine() -> DuckDBEngine:
    """One DuckDB connection per thread, reused (opening one costs ~0.1 s)."""
    eng: DuckDBEngine | None = getattr(_engines, "engine", None)
    if eng is None:
        eng = DuckDBEngine()
        _engines.engine = eng
    return eng


_ranker_cache: dict[tuple[str, ...], Ranker | None] = {}


def _stamp(path: Path) -> str:
    return f"{path.read_text(encoding='utf-8').strip()}@{path.stat().st_mtime}" if path.is_file() else ""


def active_ranker() -> Ranker | None:
    """The active learned risk model (pipeline/model.py: stored under $FANGPIN_HOME/models, else the
    shipped default), loaded once per version; None when there is none (the rule score then ranks)."""
    try:
        module: Any = importlib.import_module("fangpin.pipeline.model")
    except ImportError:
        return None
    loader = getattr(module, "active_model", None)
    if loader is None:
        return None
    shipped = Path(getattr(module, "SHIPPED_MODELS", models_dir()))
    key = (str(models_dir()), _stamp(models_dir() / "active"), _stamp(shipped / "active"))
    with _cache_lock:
        if key in _ranker_cache:
            return _ranker_cache[key]
    try:
        ranker: Ranker | None = loader(models_dir())
        warm = getattr(ranker, "warm", None)
        if warm is not None:
            warm()  # the explanation tables: built here once, not in the first re-score's request
    except (ValueError, OSError) as exc:  # no stored nor shipped model: rank by the rule score
        log.warning("no risk model available (%s); screening ranks by the rule score", exc)
        ranker = None
    with _cache_lock:
        _ranker_cache.clear()
        _ranker_cache[key] = ranker
    return ranker


def warm() -> None:
    """Load what a pushed event's re-score needs, before the first push: the policy in force and the
    active model with its explanation tables (the web workers call it when they start)."""
    active_policy()
    active_ranker()


def screen_period(
    as_of: str,
    *,
    households: Sequence[int] | None = None,
    trigger: str = "batch",
    actor: Any = None,
    lake_path: Path | None = None,
    policy: Policy | None = None,
    progress: actions.Progress | None = None,
) -> ScreeningRun:
    """Screen the lake as of `as_of` (all households, or only `households` = Household pks, which are the
    lake's household_key) and store the pushed warnings as leads (`progress(done, total)` per chunk of
    warnings stored)."""
    from fangpin.exchange.actions import active_catalog
    from fangpin.pipeline.lake import Lake

    started = timezone.now()
    lake = Lake(lake_path or Path(settings.FANGPIN_LAKE), catalog=active_catalog(), engine=_engine())
    chosen = policy or active_policy()
    result = screen(lake, as_of, chosen, ranker=active_ranker(), households=households)
    return actions.import_screening(
        result,
        actor=actor,
        policy=chosen,
        trigger=trigger,
        engine="duckdb",
        started_at=started,
        # screening a few households ranks them among themselves only: weigh against the village's month
        capacity=chosen.capacity_per_village if households is not None else None,
        progress=progress,
    )


def rescore_households(household_ids: Sequence[int], period: str) -> ScreeningRun | None:
    """The incremental path: after events for these households reached the lake, re-score them and
    create or update their leads. Returns None (and logs) if the lake cannot be screened yet."""
    ids = sorted(set(household_ids))
    if not ids:
        return None
    begin = time.perf_counter()
    try:
        run = screen_period(period, households=ids, trigger="push")
    except IntegrityError:
        # two events for one household at the same moment: the other request created the lead first
        # (one open department lead per household, period and kind); screen again and update it
        run = screen_period(period, households=ids, trigger="push")
    log.info("re-scored %d households for %s in %.3f s", len(ids), period, time.perf_counter() - begin)
    return run


def households_of_rows(rows: Sequence[dict[str, Any]]) -> list[int]:
    """The households pushed event rows are about: by ID number (current membership) or household number."""
    from fangpin.lib import idcard
    from fangpin.registry.models import Household, Membership

    ids = {idcard.normalize(str(r["id_number"])) for r in rows if r.get("id_number")}
    numbers = {str(r["household_no"]) for r in rows if r.get("household_no")}
    found: set[int] = set()
    if ids:
        found |= set(
            Membership.objects.filter(person__id_number__in=ids, end_date__isnull=True).values_list(
                "household_id", flat=True
            )
        )
    if numbers:
        found |= set(Household.objects.filter(household_no__in=numbers).values_list("pk", flat=True))
    return sorted(found)


def after_push(period: str, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Called by the push API once events are in the lake: re-score their households; the open leads
    (ids) those households now have for the period. A screening failure never fails the push (the data
    is stored; the monthly screening will see it) — it is logged."""
    from fangpin.warnings.models import OPEN_STATUSES, Lead

    households = households_of_rows(rows)
    if not households:
        return []
    try:
        rescore_households(households, period)
    except Exception:
        log.exception("incremental re-scoring failed for %d households (%s)", len(households), period)
        return []
    return list(
        Lead.objects.filter(household_id__in=households, status__in=OPEN_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
