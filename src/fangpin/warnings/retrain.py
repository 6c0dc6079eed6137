"""Retraining the risk ranking on the county's own history, monthly (ADR 0030; docs/model.md).

`retrain_if_due()` trains from the lake's roster months and the database's decisions when enough
labelled months exist and a roster month arrived since the last history training; champion/challenger
(`pipeline.history.train_from_history`) decides whether the new version becomes active. On by default;
`FANGPIN_RETRAIN=0` switches it off. The monthly cycle (issue #16) calls it; so can the task
`tasks.retrain_model` and `fangpin model train --from-history`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.pipeline.history import (
    HORIZON,
    MIN_LABELLED_MONTHS,
    HistoryRun,
    labelled_periods,
    train_from_history,
)
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.model import model_versions
from fangpin.warnings.labels import decision_labels
from fangpin.warnings.screening import _engine, active_policy, models_dir

log = logging.getLogger(__name__)
WINDOW_MONTHS = 24  # the latest roster months trained on (older months describe another county)


@dataclass(frozen=True)
class Retrain:
    due: bool
    why: str  # one line: why not due, or the champion/challenger verdict
    run: HistoryRun | None = None


def roster_periods(lake: Lake) -> list[str]:
    """The months the national roster was delivered for, oldest first."""
    return sorted({r.period for r in lake.deliveries("ag_roster")})


def last_history_training(folder: Path) -> str:
    """The last roster month the latest history-trained version saw ('' when none)."""
    last = ""
    for name, _created, _active in model_versions(folder):
        try:
            meta = json.loads((folder / name / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("label_source") == "history":
            periods = (meta.get("notes") or {}).get("periods") or ["", ""]
            last = max(last, str(periods[-1]))
    return last


def due(lake: Lake, folder: Path) -> Retrain:
    """Whether a history training is due: switched on, enough labelled months, a new roster month."""
    if not getattr(settings, "FANGPIN_RETRAIN", True):
        return Retrain(False, "已关闭自动重训（FANGPIN_RETRAIN=0）")
    periods = roster_periods(lake)[-WINDOW_MONTHS:]
    labelled = labelled_periods(periods) if periods else []
    if len(labelled) < MIN_LABELLED_MONTHS:
        return Retrain(
            False,
            f"可标注月份 {len(labelled)} 个，不足 {MIN_LABELLED_MONTHS} 个（每个月份需其后 {HORIZON} 个月的名册）",
        )
    last = last_history_training(folder)
    if last and last >= periods[-1]:
        return Retrain(False, f"名册最新月份 {periods[-1]} 已用于训练，无需重训")
    return Retrain(True, f"训练期 {periods[0]}..{periods[-1]}")


def retrain_if_due(lake_path: Path | None = None) -> Retrain:
    """Train from history when due; the verdict (activated or kept, and why) is in the audit log."""
    from fangpin.exchange.actions import active_catalog

    lake = Lake(lake_path or Path(settings.FANGPIN_LAKE), catalog=active_catalog(), engine=_engine())
    folder = models_dir()
    check = due(lake, folder)
    if not check.due:
        log.info("model retraining not due: %s", check.why)
        return check
    periods = roster_periods(lake)[-WINDOW_MONTHS:]
    run = train_from_history(lake, periods, active_policy(), folder, decisions=decision_labels())
    with transaction.atomic():
        record(
            Event.MODEL_TRAINED,
            object_type="model",
            object_id=run.model.version,
            data={
                "activated": run.activated,
                "why": run.why,
                "periods": [periods[0], periods[-1]],
                "validation_periods": run.validation_periods,
                "champion": run.champion_version,
            },
        )
    return Retrain(True, run.why, run)
