"""The Django-free CLI: policy versions as files, clear errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from fangpin.pipeline.lake import Lake
from fangpin.pipeline.policy import DEFAULT_POLICY
from fangpin.pipeline.screen_cli import main
from screening.tinylake import VILLAGE, County


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FANGPIN_HOME", str(tmp_path))
    monkeypatch.delenv("FANGPIN_LAKE", raising=False)
    return tmp_path


def test_policy_load_show_versions(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "show"]) == 0
    assert "shipped default" in capsys.readouterr().out
    assert main(["policy", "load", str(DEFAULT_POLICY)]) == 0
    changed = home / "p.yaml"
    changed.write_text(
        DEFAULT_POLICY.read_text(encoding="utf-8").replace("2026: 8300", "2026: 8400"), encoding="utf-8"
    )
    assert main(["policy", "load", str(changed)]) == 0
    files = sorted((home / "policies").glob("*.yaml"))
    assert len(files) == 2
    assert (home / "policies" / "active").read_text(encoding="utf-8").strip() in {f.name for f in files}
    capsys.readouterr()
    assert main(["policy", "show"]) == 0
    out = capsys.readouterr().out
    assert "8,400" in out and out.count(".yaml") == 2


def test_bad_policy_names_the_rule(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = home / "bad.yaml"
    text = DEFAULT_POLICY.read_text(encoding="utf-8").replace('when: "has_dropout"', 'when: "has_droput"')
    bad.write_text(text, encoding="utf-8")
    assert main(["policy", "load", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "EDU-01" in err and "has_droput" in err
    assert not (home / "policies" / "active").exists()


def test_screen_errors_exit_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["screen", "--as-of", "2026-10", "--engine", "oracle"])
    assert info.value.code == 2 and "duckdb" in capsys.readouterr().err
    assert main(["screen", "--as-of", "2026-13"]) == 2
    assert main(["screen", "--as-of", "2026-10"]) == 2  # no lake
    assert "no lake" in capsys.readouterr().err


def test_screen_writes_csv(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = County()
    c.household(1, workers=0)
    c.household(2)
    c.commit(Lake(home / "lake"))
    out = home / "w.csv"
    assert main(["screen", "--as-of", "2026-10", "--rules-only", "--out", str(out)]) == 0
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "household_no,score,grade,risk_types,category,reasons,prompt,explanation"
    assert len(lines) == 2 and lines[1].startswith("3607221000010001,")
    assert main(["screen", "--as-of", "2026-10", "--rules-only", "--all", "--out", str(out)]) == 0
    assert len(out.read_text(encoding="utf-8-sig").splitlines()) == 3
    err = capsys.readouterr().err
    assert "rules only" in err
    assert "用时 time:" in err and "portraits" in err and "rules" in err  # where the time went


def test_screen_ranks_with_the_learned_model_by_default(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv

    c = County()
    c.household(1, workers=0)
    c.household(2)
    c.commit(Lake(home / "lake"))
    out = home / "w.csv"
    assert main(["screen", "--as-of", "2026-10", "--all", "--out", str(out)]) == 0
    assert "ranking jx-default-" in capsys.readouterr().err
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(rows) == 2 and all(0.0 <= float(r["score"]) <= 1.0 for r in rows)
    pushed = [r for r in rows if r["prompt"] == "verify" and r["grade"]]
    assert pushed and pushed[0]["explanation"]  # a pushed warning says why the model ranks it high
    assert main(["screen", "--as-of", "2026-10", "--model", str(home / "no-such-model")]) == 2


def test_the_warnings_csv_writes_formula_like_text_inert(home: Path) -> None:
    """Formula injection (issue #14.4): a household number as delivered by a department is data, not a formula."""
    import csv

    hostile = '=HYPERLINK("http://evil.example/","x")'
    c = County()
    for _ in range(2):
        c.person(1, hostile, VILLAGE, "1986-01-01")
    c.commit(Lake(home / "lake"))
    out = home / "w.csv"
    assert main(["screen", "--as-of", "2026-10", "--rules-only", "--out", str(out)]) == 0
    (row,) = csv.DictReader(out.open(encoding="utf-8-sig"))
    assert row["household_no"] == "'" + hostile and float(row["score"]) > 0
