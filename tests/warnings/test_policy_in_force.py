"""The policy in force (warnings/screening.active_policy): parsed once per version, a new activation is seen
at once, and the monitoring line that cases and indicators read comes from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fangpin.pipeline import policy as policy_mod
from fangpin.warnings import screening


@pytest.fixture
def home(settings, tmp_path: Path) -> Path:
    settings.FANGPIN_HOME = str(tmp_path)
    return tmp_path


def test_the_policy_in_force_is_parsed_once_per_version(home, monkeypatch) -> None:
    parsed: list[Path] = []
    real = policy_mod.load_policy

    def counting(path=None):
        parsed.append(Path(path))
        return real(path)

    monkeypatch.setattr(policy_mod, "load_policy", counting)
    lines = [screening.monitoring_line(2026) for _ in range(5)]
    assert lines == [8300.0] * 5  # the shipped default (jx-default)
    assert parsed == [policy_mod.DEFAULT_POLICY]


def test_activating_a_policy_changes_the_line_on_the_next_call(home, tmp_path) -> None:
    assert screening.monitoring_line(2026) == 8300.0
    raised = tmp_path / "raised.yaml"
    raised.write_text(
        policy_mod.DEFAULT_POLICY.read_text(encoding="utf-8").replace("2026: 8300", "2026: 8700"),
        encoding="utf-8",
    )
    policy_mod.store_policy(home / "policies", raised)
    assert screening.monitoring_line(2026) == 8700.0
    assert screening.monitoring_line(2027) == 8700.0  # a missing year uses the latest earlier one
