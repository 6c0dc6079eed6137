"""The model health card (模型健康卡): is the risk ranking still right for this county?

Per month, within the region: the verification warnings pushed, the confirmations the model predicted
(the sum of its calibrated probabilities) and what verification found; county-wide (the model is the
county's): the active version, the date of the last training, the validation figures and the drift of
the main features (PSI, recorded when the model was trained on the county's history). ADR 0030.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db.models import Count, Q, Sum

from fangpin.pipeline.model import ModelError, active_model, model_versions
from fangpin.regions.models import Region
from fangpin.warnings.models import Channel, Lead, LeadKind, Outcome
from fangpin.warnings.screening import models_dir

MONTHS = 12
PSI_SHIFTING, PSI_CHANGED = 0.1, 0.25


@dataclass(frozen=True)
class Month:
    period: str
    pushed: int
    predicted: float | None  # Σ probability of model-ranked warnings; None when the rules ranked
    decided: int
    confirmed: int

    @property
    def observed_rate(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None

    @property
    def predicted_rate(self) -> float | None:
        return self.predicted / self.pushed if self.predicted is not None and self.pushed else None


@dataclass(frozen=True)
class Card:
    version: str = ""
    shipped: bool = False
    trained_at: str = ""  # the last training of any stored version
    label_source: str = ""
    validation: dict[str, Any] = field(default_factory=dict)
    activation: dict[str, Any] = field(default_factory=dict)
    drift_period: str = ""
    drift: list[dict[str, Any]] = field(default_factory=list)
    months: list[Month] = field(default_factory=list)
    error: str = ""


def months(region: Region, limit: int = MONTHS) -> list[Month]:
    """Predicted vs confirmed per month for the department's verification warnings of the region."""
    rows = (
        Lead.objects.filter(
            village__prefix__startswith=region.prefix, channel=Channel.DEPARTMENT, kind=LeadKind.VERIFY
        )
        .values("period")
        .annotate(
            pushed=Count("pk"),
            ranked=Count("pk", filter=~Q(model_version="")),
            predicted=Sum("score", filter=~Q(model_version="")),
            decided=Count("pk", filter=Q(outcome__in=[Outcome.CONFIRMED, Outcome.NOT_CONFIRMED])),
            confirmed=Count("pk", filter=Q(outcome=Outcome.CONFIRMED)),
        )
        .order_by("-period")[:limit]
    )
    return [
        Month(
            r["period"],
            r["pushed"],
            float(r["predicted"] or 0.0) if r["ranked"] else None,
            r["decided"],
            r["confirmed"],
        )
        for r in rows
    ]


def _drift_status(value: float) -> str:
    if value >= PSI_CHANGED:
        return "明显变化"
    return "有所变化" if value >= PSI_SHIFTING else "稳定"


def card(region: Region) -> Card:
    folder = models_dir()
    per_month = months(region)
    try:
        model = active_model(folder)
    except ModelError as exc:
        return Card(months=per_month, error=str(exc))
    meta = model.meta
    trained = [created for _name, created, _active in model_versions(folder)]
    drift_meta = meta.get("drift") or _latest_drift(folder)
    drift = [{**d, "status": _drift_status(float(d["psi"]))} for d in drift_meta.get("features", [])]
    return Card(
        version=model.version,
        shipped=model.path is None or model.path.parent != folder,
        trained_at=(max(trained) if trained else str(meta.get("created_at", "")))[:10],
        label_source=str(meta.get("label_source") or ""),
        validation=dict(meta.get("validation") or {}),
        activation=dict(meta.get("activation") or {}),
        drift_period=str(drift_meta.get("period", "")),
        drift=drift,
        months=per_month,
    )


def _latest_drift(folder: Path) -> dict[str, Any]:
    """The drift recorded by the latest stored version (a challenger kept out still measured it)."""
    for name, _created, _active in reversed(model_versions(folder)):
        try:
            found = json.loads((folder / name / "meta.json").read_text(encoding="utf-8")).get("drift")
        except (OSError, ValueError):
            continue
        if isinstance(found, dict):
            return found
    return {}
