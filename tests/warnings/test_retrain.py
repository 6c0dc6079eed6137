"""fangpin's decisions as labels and the monthly retraining that runs only when due (ADR 0030)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fangpin.pipeline.lake import Lake
from fangpin.warnings.labels import decision_labels
from fangpin.warnings.models import Channel, Lead, LeadKind, Outcome
from fangpin.warnings.retrain import due, retrain_if_due
from fangpin.warnings.tasks import retrain_model
from screening.tinylake import put


def _lead(world, outcome: str, *, kind: str = LeadKind.VERIFY, channel: str = Channel.DEPARTMENT) -> Lead:
    household = world.households["own"]
    return Lead.objects.create(
        household=household,
        village_id=household.village_id,
        channel=channel,
        kind=kind,
        status="closed",
        period="2026-03",
        outcome=outcome,
    )


def test_decisions_after_a_home_visit_become_labels_and_a_refusal_does_not(world) -> None:
    _lead(world, Outcome.CONFIRMED)
    _lead(world, Outcome.NOT_CONFIRMED, channel=Channel.SELF_DECLARATION)
    _lead(world, Outcome.ELIMINATED, kind=LeadKind.ELIMINATION)
    _lead(world, Outcome.REJECTED)  # refused without a visit: says nothing about the household
    _lead(world, "")  # not decided yet
    rows = decision_labels().to_pylist()
    key = world.households["own"].pk
    assert rows == [
        {"household_key": key, "period": "2026-03", "label": True, "source": "lead_confirmed"},
        {"household_key": key, "period": "2026-03", "label": False, "source": "declaration_not_confirmed"},
        # eliminated: no longer at risk from the month after (while monitored it is not ranked at all)
        {"household_key": key, "period": "2026-04", "label": False, "source": "eliminated"},
    ]


MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 13)]


def _roster_months(lake: Lake, start: int, stop: int) -> list[str]:
    """Roster deliveries for MONTHS[start:stop]."""
    periods = MONTHS[start:stop]
    for period in periods:
        put(
            lake,
            "ag_roster",
            period,
            [
                {
                    "household_no": "H1",
                    "household_type": "ordinary",
                    "monitor_status": "none",
                    "household_key": 1,
                }
            ],
        )
    return periods


def _history_version(folder: Path, last: str) -> None:
    version = folder / "county-x"
    version.mkdir(parents=True)
    meta = {
        "label_source": "history",
        "created_at": "2026-12-01T00:00:00+00:00",
        "notes": {"periods": ["2025-01", last]},
    }
    (version / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def test_retraining_is_due_with_enough_labelled_months_and_a_new_roster_month(
    lake: Lake, tmp_path: Path, settings
) -> None:
    folder = tmp_path / "models"
    _roster_months(lake, 0, 7)  # 5 labelled months (horizon 2): too few
    check = due(lake, folder)
    assert not check.due and "不足 6 个" in check.why
    periods = _roster_months(lake, 7, 8)  # an eighth month: 6 labelled months
    assert due(lake, folder).due
    _history_version(folder, periods[-1])  # already trained on the latest roster month
    check = due(lake, folder)
    assert not check.due and "已用于训练" in check.why
    settings.FANGPIN_RETRAIN = False
    assert "已关闭" in due(lake, folder).why


@pytest.mark.django_db
def test_the_task_reports_why_it_did_not_retrain(lake: Lake, settings, tmp_path: Path) -> None:
    settings.FANGPIN_HOME = tmp_path
    settings.FANGPIN_LAKE = str(lake.root)
    _roster_months(lake, 0, 4)
    result = retrain_model.enqueue()
    assert "不足" in result.return_value
    assert not (tmp_path / "models").exists()  # nothing trained, nothing stored
    assert not retrain_if_due(lake.root).due


def test_the_command_hands_the_databases_decisions_to_the_pipeline(world, monkeypatch) -> None:
    from fangpin.cli import main
    from fangpin.pipeline import model_cli

    _lead(world, Outcome.CONFIRMED)
    seen: dict[str, object] = {}

    def capture(args) -> int:
        seen["table"] = model_cli._decisions(args)
        return 0

    monkeypatch.setattr(model_cli, "_train_history", capture)
    assert main(["model", "train", "--from-history", "--periods", "2025-01..2025-12"]) == 0
    assert seen["table"].to_pylist()[0]["source"] == "lead_confirmed"
    assert main(["model", "train", "--from-history", "--no-decisions", "--periods", "2025-01..2025-12"]) == 0
    assert seen["table"] is None
