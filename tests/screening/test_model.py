"""The learned risk ranking: training on a tiny simulated county, calibration, explanations, storage, CLI,
evaluation, and the ranking beating the rule score on a county the model was not trained on."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fangpin.pipeline.evaluate import evaluate, examples_from_simulation
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.model import (
    FEATURE_LABELS,
    FEATURE_NAMES,
    REQUIRED_COLUMNS,
    ModelError,
    RiskModel,
    TrainOptions,
    _sentence,
    active_model,
    load_model,
    model_versions,
    shipped_model,
    simulation_lake,
    store_model,
    train,
)
from fangpin.pipeline.model_cli import main as model_main
from fangpin.pipeline.model_cli import parse_periods
from fangpin.pipeline.policy import load_policy
from fangpin.pipeline.portrait import build_portraits
from fangpin.pipeline.screen import screen
from fangpin.synth import SynthConfig, generate

TRAIN_PERIODS = ("2025-08", "2025-09", "2025-10", "2025-11", "2025-12")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Lake]:
    """A 600-household county simulated 2025-06…2025-12 (the first delivery carries 12 months of
    history), imported Django-free."""
    out = tmp_path_factory.mktemp("sim")
    generate(SynthConfig(households=600, months=7, start="2025-06", seed=21), out, progress=False)
    return out, simulation_lake(out / "deliveries", out / "lake")


@pytest.fixture(scope="module")
def examples(county: tuple[Path, Lake]) -> pa.Table:
    out, lake = county
    return examples_from_simulation(lake, out, TRAIN_PERIODS)


@pytest.fixture(scope="module")
def model(examples: pa.Table) -> RiskModel:
    return train(
        examples, TrainOptions(seed=1, county="360722", rounds=120, min_data_in_leaf=20, split="period")
    )


def test_examples_are_unmonitored_households_labelled_per_month(examples: pa.Table) -> None:
    assert set(examples.column("period").to_pylist()) == set(TRAIN_PERIODS)
    assert set(examples.column("monitor_status").to_pylist()) <= {"none", "eliminated"}
    positives = pc.sum(examples.column("label")).as_py()
    assert 0 < positives < examples.num_rows * 0.2
    assert set(examples.column("line").to_pylist()) == {8000.0}


def test_training_records_metadata_and_calibrated_grades(model: RiskModel, examples: pa.Table) -> None:
    m = model.meta
    assert model.version.startswith("jx-default-") and len(model.version.split("-")[-1]) == 8
    assert m["rows"] == examples.num_rows and m["positives"] == pc.sum(examples.column("label")).as_py()
    assert m["calibration_periods"] == list(TRAIN_PERIODS[-2:])
    assert m["train_periods"] == list(TRAIN_PERIODS[:-2])
    assert m["auc"] > 0.8
    assert 0 < model.grade_medium <= model.grade_high
    assert m["lightgbm"] and m["seed"] == 1 and m["county"] == "360722"


def test_probabilities_are_calibrated_and_rank_risk(model: RiskModel, examples: pa.Table) -> None:
    held = examples.filter(pc.is_in(examples.column("period"), pa.array(list(TRAIN_PERIODS[-2:]))))
    p = model.predict(held)
    y = np.asarray(held.column("label").to_pylist(), dtype=float)
    assert p.dtype == np.float64 and p.shape == (held.num_rows,)
    assert ((p >= 0) & (p <= 1)).all()
    # calibrated-ish: the mean probability is near the observed rate of the held-out months
    assert abs(p.mean() - y.mean()) < 0.5 * y.mean()
    order = np.argsort(-p)
    top, bottom = order[: len(p) // 10], order[-len(p) // 2 :]
    assert y[top].mean() > 5 * max(y[bottom].mean(), 1e-3)
    # row order is kept: predicting a reversed table reverses the probabilities
    assert np.allclose(model.predict(held.take(pa.array(range(held.num_rows - 1, -1, -1)))), p[::-1])


def test_lower_income_means_higher_probability(model: RiskModel, examples: pa.Table) -> None:
    row = examples.filter(pc.equal(examples.column("label"), False)).slice(0, 1)
    probs = []
    for income in (20000.0, 9000.0, 5000.0):
        t = row
        for col in ("net_income_pc_12m", "income_pc_12m", "dept_income_pc_12m"):
            i = t.column_names.index(col)
            t = t.set_column(i, col, pa.array([income], pa.float64()))
        probs.append(float(model.predict(t)[0]))
    assert probs[0] < probs[2]


def test_explanations_are_chinese_sentences_with_values(model: RiskModel, examples: pa.Table) -> None:
    held = examples.filter(examples.column("label"))
    texts = model.explain(held.slice(0, 20), top=3)
    assert len(texts) == min(20, held.num_rows)
    for text in texts:
        assert CJK.search(text)
        assert len(text.split("；")) <= 3
        assert not any(name in text for name in FEATURE_NAMES + REQUIRED_COLUMNS)
        assert not re.search(r"[a-z]+_[a-z]+", text)
    assert any(re.search(r"\d", t) for t in texts)


def test_sentence_templates_use_the_households_values() -> None:
    row = {
        "members": 3,
        "income_pc_12m": 7000.0,
        "net_income_pc_12m": 6900.0,
        "medical_self_pay_12m": 42000.0,
        "max_inpatient_self_pay_12m": 12000.0,
        "able_working_members": 0,
        "dependants": 3,
        "income_source": "departments",
    }
    assert _sentence("income", row, 8300.0) == "人均纯收入约6,900元，低于监测线8,300元"
    medical = _sentence("medical", row, 8300.0)
    assert medical is not None and medical.startswith("近12个月医疗自付4.2万元，占家庭收入的200%")
    assert "单次住院最高自付1.2万元" in medical
    assert _sentence("labour", row, 8300.0) == "家中没有有劳动能力的成员"
    assert _sentence("dropout", row, 8300.0) is None


def test_large_batches_use_the_compiled_forest_with_the_boosters_margins(
    model: RiskModel, examples: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fangpin.pipeline.model as model_module

    monkeypatch.setenv("FANGPIN_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(model_module, "_COMPILED_ROWS", 1)  # every batch is "large" here
    fresh = load_model(store_model(tmp_path / "models", model))
    x = fresh.features(examples)
    expected = fresh.booster.predict(x, raw_score=True)
    assert np.allclose(fresh.raw(examples), expected, rtol=0, atol=1e-12)
    assert fresh._compiled_model not in (None, False)  # lleaves is a dependency: it must compile here
    assert len(list((tmp_path / "cache").glob("forest-*.o"))) == 1
    again = load_model(tmp_path / "models" / fresh.version)  # a new process would load the cached code
    assert np.allclose(again.raw(examples), expected, rtol=0, atol=1e-12)
    assert len(list((tmp_path / "cache").glob("forest-*.o"))) == 1


def test_contributions_add_up_to_the_margin(model: RiskModel, examples: pa.Table) -> None:
    sample = examples.slice(0, 300)
    contributions = model.contributions(sample)
    assert contributions.shape == (300, len(FEATURE_NAMES) + 1)
    assert np.allclose(contributions.sum(axis=1), model.raw(sample), atol=1e-9)
    groups = model.group_contributions(sample)
    assert np.allclose(groups.sum(axis=1), model.raw(sample), atol=1e-9)
    # a feature the booster never splits on gets nothing
    unused = [j for j, imp in enumerate(model.booster.feature_importance("split")) if imp == 0]
    assert all(np.all(contributions[:, j] == 0) for j in unused)


def test_sentences_read_only_the_columns_explain_hands_them(examples: pa.Table) -> None:
    """explain() passes _sentence only SENTENCE_COLUMNS (to_pylist of ~90 columns is slow at scale)."""
    from fangpin.pipeline.model import EXPLAIN_GROUPS, SENTENCE_COLUMNS

    class Recording(dict[str, object]):
        seen: set[str] = set()

        def get(self, key: str, default: object = None) -> object:
            Recording.seen.add(key)
            return super().get(key, default)

    for row in examples.slice(0, 400).to_pylist():
        for group in EXPLAIN_GROUPS:
            _sentence(group, Recording(row), 8300.0)
    assert Recording.seen and Recording.seen <= SENTENCE_COLUMNS, Recording.seen - SENTENCE_COLUMNS


def test_store_load_active_round_trip(tmp_path: Path, model: RiskModel, examples: pa.Table) -> None:
    folder = tmp_path / "models"
    first = store_model(folder, model)
    other = train(examples, TrainOptions(seed=2, rounds=60, min_data_in_leaf=20, name="jx-test"))
    second = store_model(folder, other, activate=False)
    # the default split holds out households (all their months), not the latest months
    assert other.meta["split"] == "household" and other.meta["calibration_periods"] == []
    assert 0 < other.meta["calibration_rows"] < other.meta["rows"]
    assert (first / "model.txt").is_file() and json.loads((first / "meta.json").read_text("utf-8"))["version"]
    assert active_model(folder).version == model.version
    versions = model_versions(folder)
    assert {v for v, _c, _a in versions} == {model.version, other.version}
    assert [v for v, _c, a in versions if a] == [model.version]
    loaded = load_model(second)
    sample = examples.slice(0, 50)
    assert np.allclose(loaded.predict(sample), other.predict(sample))
    assert loaded.explain(sample.slice(0, 5)) == other.explain(sample.slice(0, 5))


def test_without_a_stored_model_the_shipped_default_is_used(tmp_path: Path, examples: pa.Table) -> None:
    m = active_model(tmp_path / "nothing-here")
    assert m.version == shipped_model().version
    assert m.meta["positives"] > 1000  # trained on a real-size simulated history, not the tiny county
    p = m.predict(examples.slice(0, 100))
    assert p.shape == (100,) and np.isfinite(p).all()


def test_corrupt_or_missing_model_files_give_a_clear_error(tmp_path: Path, model: RiskModel) -> None:
    path = store_model(tmp_path / "models", model)
    (path / "model.txt").write_text("tree\nthis is not a model\n", encoding="utf-8")
    with pytest.raises(ModelError, match="损坏 corrupt model file"):
        load_model(path)
    (path / "meta.json").unlink()
    with pytest.raises(ModelError, match="缺失 model file missing"):
        load_model(path)
    (tmp_path / "models" / "active").write_text("nope\n", encoding="utf-8")
    with pytest.raises(ModelError, match="missing"):
        active_model(tmp_path / "models")


def test_portraits_without_a_needed_column_are_refused(model: RiskModel, examples: pa.Table) -> None:
    cut = examples.drop_columns(["medical_self_pay_12m"])
    with pytest.raises(ModelError, match="medical_self_pay_12m"):
        model.predict(cut)
    extra = examples.slice(0, 3).append_column("something_new", pa.array([1, 2, 3]))
    assert model.predict(extra).shape == (3,)


def test_train_refuses_examples_without_labels_or_positives(examples: pa.Table) -> None:
    with pytest.raises(ModelError, match="label"):
        train(examples.drop_columns(["label"]))
    none = examples.set_column(
        examples.column_names.index("label"), "label", pa.array([False] * examples.num_rows)
    )
    with pytest.raises(ModelError, match="too few"):
        train(none)


def test_model_cli_train_and_show(
    tmp_path: Path,
    county: tuple[Path, Lake],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FANGPIN_HOME", str(tmp_path / "home"))
    out, lake = county
    code = model_main(
        [
            "model",
            "train",
            "--synth",
            str(out),
            "--lake",
            str(lake.root),
            "--periods",
            "2025-09..2025-12",
            "--quiet",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "model trained" in text and "AUC" in text
    stored = model_versions(tmp_path / "home" / "models")
    assert len(stored) == 1 and stored[0][2]
    assert model_main(["model", "show"]) == 0
    shown = capsys.readouterr().out
    assert stored[0][0] in shown and "主要特征 top features" in shown
    assert sum(f"{label} (" in shown for label in FEATURE_LABELS.values()) == 15


def test_model_cli_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert model_main(["model", "show", "--model", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err
    assert model_main(["model", "train", "--synth", str(tmp_path), "--periods", "2025-01..2025-06"]) == 2
    assert "simulator output" in capsys.readouterr().err
    assert model_main(["model", "train", "--synth", str(tmp_path), "--periods", "2025-13..2026-01"]) == 2
    with pytest.raises(ValueError, match="before"):
        parse_periods("2026-01..2025-01")
    assert parse_periods("2025-11..2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_evaluate_with_a_model_reports_curve_and_operating_point(county: tuple[Path, Lake]) -> None:
    out, lake = county
    result = screen(lake, "2025-12", load_policy())
    report = evaluate(result, out / "truth", "2025-12", model=shipped_model(), capacity=3)
    assert report.model is not None
    learned = report.model
    assert set(learned.curve) == {0.5, 0.6, 0.7, 0.8, 0.9, 0.95}
    reached = [n for n in learned.curve.values() if n is not None]
    assert reached == sorted(reached)
    assert learned.warnings <= 3 * len(set(result.all_scored.column("village_code").to_pylist()))
    assert learned.found <= min(learned.warnings, report.targets)
    assert sum(b.targets for b in learned.by_category) == report.targets
    text = report.to_text()
    assert "learned ranking" in text and "operating point" in text and "recall 90%" in text


def test_the_learned_ranking_beats_the_rule_score_on_an_unseen_county(county: tuple[Path, Lake]) -> None:
    """The shipped model never saw this seed; pooled over months it needs fewer warnings than the rules."""
    out, lake = county
    rule_k, model_k, rule_80, model_80 = 0.0, 0.0, 0, 0
    for as_of in ("2025-10", "2025-11", "2025-12"):
        report = evaluate(screen(lake, as_of, load_policy()), out / "truth", as_of, model=shipped_model())
        assert report.model is not None
        rule_k += report.recall_at_k
        model_k += report.model.recall_at_k
        rule_80 += report.curve[0.8] or 10**6
        model_80 += report.model.curve[0.8] or 10**6
    assert model_k > rule_k
    assert model_80 < rule_80
    assert not math.isnan(model_k)


def test_portraits_from_the_lake_are_enough_for_the_model(county: tuple[Path, Lake]) -> None:
    """The Ranker contract: plain portraits (no line column: the model's latest line is used)."""
    _out, lake = county
    portraits = build_portraits(lake, "2025-12")
    m = shipped_model()
    p = m.predict(portraits)
    texts = m.explain(portraits.slice(0, 5))
    assert p.shape == (portraits.num_rows,) and len(texts) == 5
    assert m.grade(1.0) == "高" and m.grade(0.0) == "低"


def test_a_warm_start_with_no_correction_rounds_keeps_the_priors_margin_exactly(
    model: RiskModel, examples: pa.Table
) -> None:
    warm = train(examples, TrainOptions(seed=1, split="period", rounds=0, name="warm"), prior=model)
    sample = examples.slice(0, 300)
    assert np.array_equal(warm.raw(sample), model.raw(sample))
    assert warm.meta["warm_start"] == {
        "prior": model.version,
        "prior_trees": model.booster.num_trees(),
        "correction_trees": 0,
    }


def _warm(model: RiskModel, examples: pa.Table) -> RiskModel:
    options = TrainOptions(seed=1, split="period", rounds=10, learning_rate=0.05, num_leaves=7, name="warm")
    return train(examples, replace(options, min_data_in_leaf=20), prior=model)


def test_a_warm_start_learns_only_corrections_to_the_priors_margin(
    model: RiskModel, examples: pa.Table
) -> None:
    """The prior learned these very labels: from its margin (LightGBM's init_score) there is little left
    to correct. Started from zero instead, ten trees would carry the whole log-odds (~ −3 here)."""
    warm = _warm(model, examples)
    sample = examples.slice(0, 400)
    shift = warm.raw(sample) - model.raw(sample)
    assert warm.booster.num_trees() == model.booster.num_trees() + warm.meta["warm_start"]["correction_trees"]
    assert warm.meta["warm_start"]["correction_trees"] > 0 and np.abs(shift).max() > 0
    assert np.abs(shift).mean() < 0.5  # from zero, ten such trees would shift it by ~4
    # the explanation reads the prior's contributions plus the correction's, per feature group
    assert np.allclose(warm.group_contributions(sample).sum(axis=1), warm.raw(sample), atol=1e-9)
    assert all(CJK.search(text) for text in warm.explain(sample.slice(0, 20)))


def test_a_stored_warm_model_loads_and_predicts_the_same(
    tmp_path: Path, model: RiskModel, examples: pa.Table
) -> None:
    warm = _warm(model, examples)
    loaded = load_model(store_model(tmp_path / "models", warm))
    sample = examples.slice(0, 200)
    assert loaded.meta["warm_start"] == warm.meta["warm_start"]
    assert np.array_equal(loaded.predict(sample), warm.predict(sample))
    assert loaded.explain(sample.slice(0, 10)) == warm.explain(sample.slice(0, 10))
