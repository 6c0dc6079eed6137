"""Training on the county's own history: labels without simulator truth, no leakage from later months,
validation by time, champion/challenger and `fangpin model show` (pipeline/history.py, ADR 0030)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fangpin.pipeline.history import (
    HORIZON,
    KNOWN_NEGATIVE_WEIGHT,
    Figures,
    beats,
    history_examples,
    labelled_periods,
    monitored_keys,
    psi,
    roster_positives,
    train_from_history,
    warm_prior,
)
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.model import (
    FEATURE_NAMES,
    RiskModel,
    TrainOptions,
    active_model,
    feature_matrix,
    line_of,
    shipped_model,
    simulation_lake,
    store_model,
    train,
)
from fangpin.pipeline.model_cli import main as model_main
from fangpin.pipeline.policy import load_policy
from fangpin.synth import SynthConfig, generate

PERIODS = [f"2025-{m:02d}" for m in range(6, 13)] + ["2026-01", "2026-02", "2026-03"]  # 10 months
P = "2025-08"


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Lake]:
    """A 1,500-household county simulated for 10 months, imported Django-free."""
    out = tmp_path_factory.mktemp("hist")
    generate(SynthConfig(households=1500, months=len(PERIODS), start=PERIODS[0], seed=8), out, progress=False)
    return out, simulation_lake(out / "deliveries", out / "lake")


@pytest.fixture(scope="module")
def examples(county: tuple[Path, Lake]) -> pa.Table:
    return history_examples(county[1], PERIODS, load_policy())


def test_a_month_is_labelled_only_when_its_later_roster_months_are_given() -> None:
    assert HORIZON == 2
    assert labelled_periods(PERIODS) == PERIODS[:-2]
    assert labelled_periods(PERIODS, horizon=3) == PERIODS[:-3]
    assert labelled_periods(PERIODS[:2]) == []


def test_households_that_the_roster_later_monitors_are_the_positives(
    county: tuple[Path, Lake], examples: pa.Table
) -> None:
    lake = county[1]
    at_p = examples.filter(pc.equal(examples.column("period"), P))
    later = monitored_keys(lake, "2025-09") | monitored_keys(lake, "2025-10")  # P+1, P+2
    positives = {
        k for k, y in zip(at_p["household_key"].to_pylist(), at_p["label"].to_pylist(), strict=True) if y
    }
    assert positives and positives == later & set(at_p["household_key"].to_pylist())
    assert not positives & monitored_keys(lake, P)  # monitored at P: not in the ranking, not an example
    assert set(at_p["label_source"].to_pylist()) == {"roster", "unlabelled"}


def test_labels_never_read_a_roster_month_after_the_last_period(county: tuple[Path, Lake]) -> None:
    lake = county[1]
    # with the periods ending at P+1, only P+1's roster may label P: a household first monitored at P+2
    # must not be a positive
    first_at_p2 = monitored_keys(lake, "2025-10") - monitored_keys(lake, "2025-09") - monitored_keys(lake, P)
    assert first_at_p2, "the simulated county should bring someone into monitoring in 2025-10"
    assert not roster_positives(lake, P, "2025-09") & first_at_p2
    assert first_at_p2 <= roster_positives(lake, P, "2025-11")
    # and the horizon bounds it: a household first monitored at P+3 is a positive with horizon 3 only
    first_at_p3 = (
        monitored_keys(lake, "2025-11") - monitored_keys(lake, "2025-10") - monitored_keys(lake, "2025-09")
    )
    first_at_p3 -= monitored_keys(lake, P)
    assert not roster_positives(lake, P, "2026-03") & first_at_p3
    assert first_at_p3 <= roster_positives(lake, P, "2026-03", horizon=3)


def test_an_example_at_p_sees_no_department_data_delivered_after_p(
    county: tuple[Path, Lake], examples: pa.Table, tmp_path: Path
) -> None:
    """The same county with every department file after P removed (only the roster — the labels — and
    the police register — the household keys — kept) gives exactly the same features at P."""
    out, _lake = county
    cut = tmp_path / "deliveries"
    shutil.copytree(out / "deliveries", cut)
    removed = 0
    for folder in cut.iterdir():
        if folder.name > P:
            for f in folder.iterdir():
                if f.is_file() and f.stem not in ("ag_roster", "ps_person") and not f.name.startswith("_"):
                    f.unlink()
                    removed += 1
    assert removed > 20
    truncated = simulation_lake(cut, tmp_path / "lake")
    mine = history_examples(truncated, PERIODS, load_policy())
    full = examples.filter(pc.equal(examples.column("period"), P)).sort_by("household_key")
    short = mine.filter(pc.equal(mine.column("period"), P)).sort_by("household_key")
    assert full["household_key"].equals(short["household_key"])
    assert full["label"].equals(short["label"])
    a = feature_matrix(full, line_of(full, 8000.0))
    b = feature_matrix(short, line_of(short, 8000.0))
    # equal up to the order doubles were summed in (the two lakes' files differ in layout)
    assert np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
    # and the lake did change after P: a later month's features differ
    later_full = examples.filter(pc.equal(examples.column("period"), "2025-12")).sort_by("household_key")
    later_short = mine.filter(pc.equal(mine.column("period"), "2025-12")).sort_by("household_key")
    assert not np.allclose(
        feature_matrix(later_full, line_of(later_full, 8000.0)),
        feature_matrix(later_short, line_of(later_short, 8000.0)),
        rtol=1e-9,
        atol=1e-9,
        equal_nan=True,
    )


def test_decisions_override_the_roster_and_known_negatives_weigh_more(county: tuple[Path, Lake]) -> None:
    lake = county[1]
    base = history_examples(lake, PERIODS[:6], load_policy())
    at_p = base.filter(pc.equal(base.column("period"), P))
    unlabelled = [
        k for k, y in zip(at_p["household_key"].to_pylist(), at_p["label"].to_pylist(), strict=True) if not y
    ]
    negative, positive = unlabelled[0], unlabelled[1]
    decisions = pa.table(
        {
            "household_key": [negative, positive],
            "period": [P, P],
            "label": [False, True],
            "source": ["lead_not_confirmed", "lead_confirmed"],
        }
    )
    got = history_examples(lake, PERIODS[:6], load_policy(), decisions=decisions)
    rows = {r["household_key"]: r for r in got.filter(pc.equal(got.column("period"), P)).to_pylist()}
    assert (rows[positive]["label"], rows[positive]["label_source"]) == (True, "decision")
    assert (rows[negative]["label"], rows[negative]["weight"]) == (False, KNOWN_NEGATIVE_WEIGHT)
    assert rows[unlabelled[2]]["weight"] == 1.0
    # a decision about P labels P only
    later = got.filter(pc.equal(got.column("period"), "2025-09"))
    assert positive not in {
        k for k, y in zip(later["household_key"].to_pylist(), later["label"].to_pylist(), strict=True) if y
    } or positive in roster_positives(lake, "2025-09", PERIODS[5])


def _figures(per80: float, per90: float) -> Figures:
    return Figures(["2026-01"], 40, 0.5, per80, per90, 0.02, 0.02, 0.001)


def test_a_challenger_must_need_fewer_warnings_at_80_and_not_more_at_90() -> None:
    assert beats(_figures(2.0, 4.0), _figures(3.0, 5.0))[0]
    won, why = beats(_figures(3.5, 4.0), _figures(3.0, 5.0))
    assert not won and "3.50" in why and "3.00" in why
    assert not beats(_figures(2.0, 6.0), _figures(3.0, 5.0))[0]


def test_the_champion_stays_when_the_challenger_is_worse(
    county: tuple[Path, Lake], examples: pa.Table, tmp_path: Path
) -> None:
    """A champion that learned from every labelled month — the validation months included — cannot be
    beaten on them by a challenger that never saw them: it stays active, and the challenger is stored."""
    lake = county[1]
    folder = tmp_path / "models"
    champion = train(
        examples, TrainOptions(seed=3, split="household", name="oracle", rounds=200, min_data_in_leaf=20)
    )
    store_model(folder, champion)
    run = train_from_history(lake, PERIODS, load_policy(), folder, seed=1)
    assert not run.activated
    assert run.champion_version == champion.version
    assert active_model(folder).version == champion.version
    assert (folder / run.model.version / "meta.json").is_file()  # stored, not activated
    assert run.challenger.per_found_80 >= run.champion.per_found_80
    assert run.validation_periods == labelled_periods(PERIODS)[-2:]
    meta = run.model.meta
    assert meta["activation"] == {"active": False, "why": run.why, "champion": champion.version}
    assert [d["feature"] for d in meta["drift"]["features"]][:1] == [run.model.feature_importance()[0][0]]


def test_model_show_lists_each_version_with_its_figures(
    county: tuple[Path, Lake], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, lake = county
    folder = tmp_path / "models"
    code = model_main(
        [
            "model",
            "train",
            "--from-history",
            "--periods",
            f"{PERIODS[0]}..{PERIODS[-1]}",
            "--lake",
            str(out / "lake"),
            "--out",
            str(folder),
            "--quiet",
        ]
    )
    assert code == 0
    trained = capsys.readouterr().out
    assert "验证期 validated on 2025-12..2026-01" in trained and "仅用规则 rules only" in trained
    assert model_main(["model", "show", "--folder", str(folder)]) == 0
    shown = capsys.readouterr().out
    assert "验证期 validated on 2025-12..2026-01 (2)" in shown
    assert "本版本 challenger: 80%召回每户预警" in shown and "仅用规则 rules: 80%召回每户预警" in shown
    assert ("启用 activated:" in shown) != ("未启用 not activated:" in shown)
    # the challenger corrected the champion, here the shipped default
    assert f"以 {shipped_model().version} 为起点修正 warm start:" in shown


def test_a_challenger_corrects_the_champion_unless_it_learned_this_countys_history() -> None:
    shipped = shipped_model()
    synthetic = RiskModel(
        shipped.booster, {**shipped.meta, "version": "other-sim", "label_source": "simulation"}
    )
    assert warm_prior(synthetic) is synthetic
    learned = RiskModel(shipped.booster, {**shipped.meta, "version": "county-1", "label_source": "history"})
    prior = warm_prior(learned)
    assert prior is not None and prior.version == shipped.version  # corrections are never stacked


def test_history_training_errors_are_one_line_with_exit_2(
    county: tuple[Path, Lake], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _lake = county
    args = [
        "model",
        "train",
        "--from-history",
        "--lake",
        str(out / "lake"),
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    assert model_main([*args, "--periods", "2025-06..2025-10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("错误 / error:") and "labelled months" in err and "\n" not in err
    assert model_main([*args, "--periods", "2025-06..2026-03", "--synth", str(out)]) == 2
    assert model_main(["model", "train", "--periods", "2025-06..2026-03"]) == 2


def test_psi_is_zero_for_the_same_population_and_large_for_a_shifted_one() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    assert psi(ref, rng.normal(size=5000)) < 0.02
    assert psi(ref, rng.normal(loc=1.0, size=5000)) > 0.25
    assert psi(np.array([np.nan] * 10 + [1.0] * 90), np.array([np.nan] * 60 + [1.0] * 40)) > 0.25
    assert len(FEATURE_NAMES) > 5
