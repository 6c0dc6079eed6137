"""Training on a county's own history: labels a real county has, point-in-time examples, validation by
time and champion/challenger (ADR 0030, docs/model.md "Trained on the county's own history").

Labels (what a real county has; nothing from the simulator):
- the national roster (`ag_roster`): a household not monitored at P that is 监测中 in one of the roster
  months P+1..P+horizon (HORIZON = 2 by default; all ≤ the last period given) is a positive at P;
- fangpin's own decisions (`decisions`: household_key, period, label, source — the Django side exports
  them, `fangpin.warnings.labels`): a verified lead brought into monitoring is a positive at its period,
  a lead closed after a home visit as not at risk a known negative, and so on;
- everything else is unlabelled and learned as a negative (positive–unlabelled learning): weight 1,
  known negatives `KNOWN_NEGATIVE_WEIGHT`.

Point in time: the features of an example at P are the portraits `screen()` builds as of P (lake
deliveries of periods ≤ P only); its label reads only the roster of P+1..P+horizon and decisions about P.
Months whose horizon reaches past the last period are not labelled (a short horizon would call positives
negatives).

Warm start: the challenger corrects the champion (`warm_prior`) — LightGBM continues the prior's forest
from its margin with a few small trees — instead of learning from nothing (ADR 0030: the roster's labels
are too thin and late to replace what the prior knows).

Validation by time: the latest labelled months are held out; the challenger is trained on the earlier
ones only (its own calibration months are the latest 30 % of those), so the champion — the active model,
the shipped default — and the rules are scored on months none of them learned from. Django-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.periods import check_period, previous_period
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.model import UNMONITORED, ModelError, calibration_error

if TYPE_CHECKING:
    from fangpin.pipeline.model import RiskModel
    from fangpin.pipeline.policy import Policy

# months after P in which a roster transition makes P a positive (`--horizon`, 1–3). 2, not 3: a
# household brought into monitoring 3 months later was often hit by a shock after P, which P's data
# cannot show — on the measured county (docs/model.md) horizon 3 needed 7.7 warnings per true household
# at 80 % recall, horizon 2 5.3, horizon 1 5.0 (with half the positives to validate on)
HORIZON = 2
MAX_HORIZON = 3
KNOWN_NEGATIVE_WEIGHT = 3.0  # a home visit that found no risk says more than a household nobody visited
VALIDATION_SHARE = 0.25  # of the labelled months, the latest, held out for champion/challenger
MIN_LABELLED_MONTHS = 6  # fewer cannot both train (with its own calibration months) and validate
# warm start (ADR 0030): the challenger starts from the prior's margin and learns at most this many small,
# strongly regularised correction trees — the county's labels are thin and late (a third of the truly
# at-risk households, a quarter of them hit after P), so they may bend the prior, not replace it. 30
# rounds chose themselves on the validation months of the measured county (docs/model.md: 10 / 30 / 100
# / 300 rounds 9.26 / 8.91 / 10.44 / 11.20 warnings per later-monitored household at 80 % recall)
WARM_ROUNDS = 30
DECISION_SCHEMA = pa.schema(
    [
        ("household_key", pa.int64()),
        ("period", pa.string()),
        ("label", pa.bool_()),
        ("source", pa.string()),  # lead_confirmed | lead_not_confirmed | declaration_* | eliminated
    ]
)


def later_period(period: str, months: int) -> str:
    return previous_period(period, -months)


def labelled_periods(periods: Sequence[str], horizon: int = HORIZON) -> list[str]:
    """The periods whose whole horizon lies within `periods` (the last `horizon` months have none)."""
    last = max(periods)
    return [p for p in sorted(periods) if later_period(p, horizon) <= last]


def monitored_keys(lake: Lake, period: str) -> set[int]:
    """household_keys the roster delivered by `period` marks 监测中."""
    roster = lake.read("ag_roster", period, columns=["household_key", "monitor_status"])
    keep = pc.fill_null(pc.equal(roster.column("monitor_status"), "monitored"), False)
    return {int(k) for k in roster.column("household_key").filter(keep).to_pylist() if k is not None}


def roster_positives(lake: Lake, period: str, last: str, horizon: int = HORIZON) -> set[int]:
    """Households 监测中 in some roster month P+1..P+horizon that is ≤ `last` (never beyond)."""
    out: set[int] = set()
    for k in range(1, horizon + 1):
        month = later_period(period, k)
        if month > last:
            break
        out |= monitored_keys(lake, month)
    return out


def _decisions_by_period(decisions: pa.Table | None) -> dict[str, dict[int, bool]]:
    """period → household_key → label; a positive decision wins over a negative one for the same key."""
    out: dict[str, dict[int, bool]] = {}
    if decisions is None or decisions.num_rows == 0:
        return out
    missing = [c for c in ("household_key", "period", "label") if c not in decisions.column_names]
    if missing:
        raise ModelError(f"decision labels lack columns: {', '.join(missing)}")
    for key, period, label in zip(
        decisions.column("household_key").to_pylist(),
        decisions.column("period").to_pylist(),
        decisions.column("label").to_pylist(),
        strict=True,
    ):
        if key is None or period is None or label is None:
            continue
        month = out.setdefault(str(period), {})
        month[int(key)] = bool(label) or month.get(int(key), False)
    return out


def label_month(
    portraits: pa.Table, positives: set[int], decided: dict[int, bool]
) -> tuple[list[bool], list[float], list[str]]:
    """Label, weight and label source per portrait row (unmonitored households only)."""
    labels: list[bool] = []
    weights: list[float] = []
    sources: list[str] = []
    for key in portraits.column("household_key").to_pylist():
        if key in decided:
            positive = decided[key] or key in positives
            labels.append(positive)
            weights.append(1.0 if positive else KNOWN_NEGATIVE_WEIGHT)
            sources.append("decision" if decided[key] or key not in positives else "roster")
        elif key in positives:
            labels.append(True)
            weights.append(1.0)
            sources.append("roster")
        else:
            labels.append(False)
            weights.append(1.0)
            sources.append("unlabelled")
    return labels, weights, sources


def history_examples(
    lake: Lake,
    periods: Sequence[str],
    policy: Policy,
    *,
    decisions: pa.Table | None = None,
    horizon: int = HORIZON,
    progress: Callable[[str], None] | None = None,
) -> pa.Table:
    """Examples for every labelled period of `periods`: the portraits screen() builds as of P (households
    not monitored at P), `line`, the rule score `rule_score`, `label`, `weight` and `label_source`."""
    from fangpin.pipeline.screen import screen

    for p in periods:
        check_period(p)
    if not 1 <= horizon <= MAX_HORIZON:
        raise ModelError(f"horizon must be 1–{MAX_HORIZON} months, not {horizon}")
    months = labelled_periods(periods, horizon)
    if not months:
        raise ModelError(
            f"no labelled month: a month needs {horizon} later roster months within the periods given"
        )
    last = max(periods)
    by_period = _decisions_by_period(decisions)
    parts: list[pa.Table] = []
    for period in months:
        result = screen(lake, period, policy)
        portraits = result.portraits.filter(
            pc.is_in(result.portraits.column("monitor_status"), pa.array(list(UNMONITORED)))
        )
        score_at = pc.index_in(portraits.column("household_key"), result.all_scored.column("household_key"))
        rule_score = result.all_scored.column("score").take(score_at)
        positives = roster_positives(lake, period, last, horizon)
        labels, weights, sources = label_month(portraits, positives, by_period.get(period, {}))
        n = portraits.num_rows
        portraits = (
            portraits.append_column("period", pa.array([period] * n, pa.string()))
            .append_column("line", pa.array([float(result.line)] * n, pa.float64()))
            .append_column("rule_score", pc.cast(rule_score, pa.float64()))
            .append_column("label", pa.array(labels, pa.bool_()))
            .append_column("weight", pa.array(weights, pa.float64()))
            .append_column("label_source", pa.array(sources, pa.string()))
        )
        parts.append(portraits)
        if progress:
            progress(f"{period}: {n} households not monitored, {sum(labels)} labelled at risk")
    return pa.concat_tables(parts, promote_options="permissive")


# --- figures a county can compute itself -----------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """A ranking on labelled months: what a county can check without any simulator."""

    periods: list[str]
    positives: int
    recall_top_k: float  # share of the positives within the top `capacity` of their village
    per_found_80: float  # warnings per later-monitored household found at 80 % recall (pooled)
    per_found_90: float
    mean_predicted: float  # NaN for the rule score (not a probability)
    observed_rate: float
    calibration_error: float

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}

    def line(self) -> str:
        cal = (
            f"预测 {self.mean_predicted * 100:.2f}% / 实际 {self.observed_rate * 100:.2f}%"
            if not math.isnan(self.mean_predicted)
            else f"实际 {self.observed_rate * 100:.2f}%"
        )
        return (
            f"80%召回每户预警 {self.per_found_80:.2f}, 90% {self.per_found_90:.2f}, "
            f"村内前K召回 {self.recall_top_k * 100:.1f}%, {cal}"
        )


def _order(scores: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Highest score first, ties by household_key (the rule score ties often: same order every run)."""
    return np.lexsort((keys, -scores))


def _per_found(scores: np.ndarray, y: np.ndarray, keys: np.ndarray, level: float) -> tuple[int, int]:
    """(warnings needed, households to find) to reach `level` recall ranking by `scores`."""
    need = math.ceil(level * y.sum())
    if not need:
        return 0, 0
    order = _order(scores, keys)
    hits = np.cumsum(y[order])
    return int(np.searchsorted(hits, need)) + 1, need


def _top_k_hits(
    villages: list[str], scores: np.ndarray, y: np.ndarray, keys: np.ndarray, capacity: int
) -> int:
    order = _order(scores, keys)
    taken: dict[str, int] = {}
    hits = 0
    for i in order:
        v = villages[i]
        if taken.get(v, 0) < capacity:
            taken[v] = taken.get(v, 0) + 1
            hits += int(y[i])
    return hits


def figures(examples: pa.Table, scores: np.ndarray, *, capacity: int, probability: bool) -> Figures:
    """Per month: rank by `scores`, count warnings to 80/90 % recall and positives in the village top K;
    pooled over the months (sum of warnings ÷ sum of households to find)."""
    periods = examples.column("period").to_pylist()
    villages = examples.column("village_code").to_pylist()
    y_all = np.asarray(pc.cast(examples.column("label"), pa.float64()).to_numpy(zero_copy_only=False))
    key_all = np.asarray(pc.fill_null(examples.column("household_key"), 0).to_numpy(zero_copy_only=False))
    months = sorted(set(periods))
    period_arr = np.array(periods)
    sums = {0.8: [0, 0], 0.9: [0, 0]}
    top_hits = 0
    for month in months:
        idx = np.flatnonzero(period_arr == month)
        s, y, keys = scores[idx], y_all[idx], key_all[idx]
        for level, acc in sums.items():
            w, n = _per_found(s, y, keys, level)
            acc[0] += w
            acc[1] += n
        top_hits += _top_k_hits([villages[i] for i in idx], s, y, keys, capacity)
    positives = int(y_all.sum())
    return Figures(
        periods=months,
        positives=positives,
        recall_top_k=top_hits / positives if positives else math.nan,
        per_found_80=sums[0.8][0] / sums[0.8][1] if sums[0.8][1] else math.nan,
        per_found_90=sums[0.9][0] / sums[0.9][1] if sums[0.9][1] else math.nan,
        mean_predicted=float(scores.mean()) if probability and len(scores) else math.nan,
        observed_rate=float(y_all.mean()) if len(y_all) else math.nan,
        calibration_error=calibration_error(y_all, scores) if probability else math.nan,
    )


def beats(challenger: Figures, champion: Figures) -> tuple[bool, str]:
    """The challenger wins when it needs fewer warnings per found household at 80 % recall and not more
    at 90 %; the reason in one line."""
    if challenger.positives == 0:
        return False, "验证月份没有标注为风险的农户，无法比较"
    if not challenger.per_found_80 < champion.per_found_80:
        return False, (
            f"80%召回所需预警 {challenger.per_found_80:.2f} 户/户 不优于现用 {champion.per_found_80:.2f}"
        )
    if challenger.per_found_90 > champion.per_found_90:
        return False, (
            f"90%召回所需预警 {challenger.per_found_90:.2f} 户/户 差于现用 {champion.per_found_90:.2f}"
        )
    return True, (
        f"80%召回所需预警 {challenger.per_found_80:.2f} < {champion.per_found_80:.2f}，"
        f"90% {challenger.per_found_90:.2f} ≤ {champion.per_found_90:.2f}"
    )


def split_by_time(
    examples: pa.Table, share: float = VALIDATION_SHARE
) -> tuple[pa.Table, pa.Table, list[str]]:
    """(earlier months, the latest `share` of the months, those latest months)."""
    months = sorted(set(examples.column("period").to_pylist()))
    if len(months) < MIN_LABELLED_MONTHS:
        raise ModelError(
            f"only {len(months)} labelled months (need {MIN_LABELLED_MONTHS}: each needs its later "
            "roster months; give a longer --periods range)"
        )
    n_val = max(1, round(len(months) * share))
    held = months[-n_val:]
    is_held = pc.is_in(examples.column("period"), pa.array(held))
    return examples.filter(pc.invert(is_held)), examples.filter(is_held), held


def model_scores(model: RiskModel, examples: pa.Table) -> np.ndarray:
    return np.asarray(model.predict(examples), dtype=np.float64)


def rule_scores(examples: pa.Table) -> np.ndarray:
    return np.asarray(pc.fill_null(examples.column("rule_score"), 0.0).to_numpy(zero_copy_only=False))


# --- drift of the main features ---------------------------------------------------------------------

DRIFT_FEATURES = 5  # the model's top features by gain
PSI_BINS = 10


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `current` against `reference`: decile bins of the reference (unknown
    values are a bin of their own), Σ (c − r)·ln(c / r). Below 0.1 stable, 0.1–0.25 shifting, above
    0.25 a different population."""
    ref_known, cur_known = reference[~np.isnan(reference)], current[~np.isnan(current)]
    cut = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.quantile(ref_known, cut)) if len(ref_known) else np.empty(0)

    def shares(values: np.ndarray, known: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, known, side="right"), minlength=len(edges) + 1)
        out = np.append(counts, len(values) - len(known)).astype(np.float64)
        return np.asarray(np.maximum(out / max(len(values), 1), 1e-4), dtype=np.float64)

    r, c = shares(reference, ref_known), shares(current, cur_known)
    return float(np.sum((c - r) * np.log(c / r)))


def feature_drift(model: RiskModel, reference: pa.Table, current: pa.Table) -> list[dict[str, Any]]:
    """PSI of the model's top features between the training examples and a later month's portraits."""
    from fangpin.pipeline.model import DEFAULT_LINES, FEATURE_NAMES, feature_matrix, line_of

    # both tables carry the monitoring line of their month (history_examples, latest_portraits)
    line = DEFAULT_LINES[max(DEFAULT_LINES)]
    ref = feature_matrix(reference, line_of(reference, line))
    cur = feature_matrix(current, line_of(current, line))
    out = []
    for name, label, share in model.feature_importance()[:DRIFT_FEATURES]:
        j = FEATURE_NAMES.index(name)
        out.append(
            {
                "feature": name,
                "label": label,
                "gain": round(share, 4),
                "psi": round(psi(ref[:, j], cur[:, j]), 4),
            }
        )
    return out


def latest_portraits(lake: Lake, period: str, policy: Policy) -> pa.Table:
    """Portraits of the households not monitored at `period`, with the year's line (for drift)."""
    from fangpin.pipeline.portrait import build_portraits

    params = policy.param_values(int(period[:4]))
    portraits = build_portraits(lake, period, params=params)
    portraits = portraits.filter(pc.is_in(portraits.column("monitor_status"), pa.array(list(UNMONITORED))))
    return portraits.append_column(
        "line", pa.array([float(params["line"])] * portraits.num_rows, pa.float64())
    )


# --- training, champion/challenger ----------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRun:
    """What `train_from_history` did: the challenger, its figures against the champion and the rules."""

    model: RiskModel
    activated: bool
    why: str  # one line
    validation_periods: list[str]
    challenger: Figures
    champion: Figures
    champion_version: str  # the active stored model's, or the shipped default's
    rules: Figures


def warm_prior(champion: RiskModel | None) -> RiskModel | None:
    """The model a challenger starts from: the champion, unless it learned from this county's history
    itself — then the shipped default (corrections are learned afresh each month, never stacked)."""
    from fangpin.pipeline.model import shipped_model

    if champion is not None and champion.meta.get("label_source") != "history":
        return champion
    try:
        return shipped_model()
    except ModelError:  # nothing shipped: the challenger learns from nothing
        return None


def train_from_history(
    lake: Lake,
    periods: Sequence[str],
    policy: Policy,
    folder: Path,
    *,
    decisions: pa.Table | None = None,
    horizon: int = HORIZON,
    warm: bool = True,
    seed: int = 0,
    name: str = "county",
    county: str = "",
    progress: Callable[[str], None] | None = None,
) -> HistoryRun:
    """Build point-in-time examples, train on the earlier labelled months, score challenger, champion
    (the active model in `folder`, else the shipped default) and the rules on the latest months, store the
    challenger and activate it only when it beats the champion and is not worse than the rules.
    `warm`: the challenger corrects `warm_prior(champion)` (at most WARM_ROUNDS trees of 7 leaves,
    learning rate 0.02, L2 10) instead of learning from nothing."""
    from fangpin.pipeline.model import TrainOptions, active_model, store_model, train

    examples = history_examples(
        lake, periods, policy, decisions=decisions, horizon=horizon, progress=progress
    )
    fit, held, held_periods = split_by_time(examples)
    if progress:
        progress(f"training on {fit.num_rows} examples, validating on {', '.join(held_periods)}")
    try:
        champion: RiskModel | None = active_model(folder)
    except ModelError:  # no stored and no shipped model: the rules rank, and are the champion
        champion = None
    notes = {
        "label_source": "history",
        "periods": [min(periods), max(periods)],
        "decisions": int(decisions.num_rows) if decisions is not None else 0,
        "horizon": horizon,
    }
    prior = warm_prior(champion) if warm else None
    options = TrainOptions(seed=seed, split="period", name=name, county=county, notes=notes)
    if prior is not None:
        options = replace(
            options,
            rounds=WARM_ROUNDS,
            learning_rate=0.02,
            num_leaves=7,
            min_data_in_leaf=200,
            lambda_l2=10.0,
        )
        if progress:
            progress(f"warm start from {prior.version}")
    model = train(fit, options, prior=prior)
    capacity = int(policy.capacity_per_village)
    mine = figures(held, model_scores(model, held), capacity=capacity, probability=True)
    rules = figures(held, rule_scores(held), capacity=capacity, probability=False)
    theirs = (
        figures(held, model_scores(champion, held), capacity=capacity, probability=True)
        if champion is not None
        else rules
    )
    champion_version = champion.version if champion is not None else "rules-only"
    won, why = beats(mine, theirs)
    if won and mine.per_found_80 > rules.per_found_80:
        won, why = False, f"80%召回所需预警 {mine.per_found_80:.2f} 差于仅用规则 {rules.per_found_80:.2f}"
    sources = pc.value_counts(examples.column("label_source")).to_pylist()
    model.meta["validation"] = {
        "periods": held_periods,
        "challenger": mine.as_dict(),
        "champion": {"version": champion_version, **theirs.as_dict()},
        "rules": rules.as_dict(),
        "label_sources": {str(s["values"]): int(s["counts"]) for s in sources},
    }
    model.meta["activation"] = {"active": won, "why": why, "champion": champion_version}
    latest = max(periods)
    model.meta["drift"] = {
        "period": latest,
        "features": feature_drift(model, fit, latest_portraits(lake, latest, policy)),
    }
    store_model(folder, model, activate=won)
    return HistoryRun(model, won, why, held_periods, mine, theirs, champion_version, rules)
