"""The monthly screening as a background job and as `fangpin warnings import`."""

from __future__ import annotations

import datetime as dt

from fangpin.cli import main
from fangpin.warnings.models import Lead, ScreeningRun
from fangpin.warnings.tasks import screen_and_import
from screening.tinylake import put


def _costly_stay(world, lake) -> None:
    person = world.persons["own"]
    put(
        lake,
        "ms_settlement",
        "2026-10",
        [
            {
                "settlement_id": "C1",
                "id_number": person.id_number,
                "settle_date": dt.date(2026, 10, 3),
                "visit_type": "inpatient",
                "total_cost": 90000,
                "basic_paid": 40000,
                "critical_paid": 10000,
                "assistance_paid": 0,
                "self_pay": 40000,
                "person_key": person.pk,
                "household_key": world.households["own"].pk,
            }
        ],
    )


def test_the_background_job_screens_and_stores_leads(world, world_lake) -> None:
    _costly_stay(world, world_lake)
    result = screen_and_import.enqueue("2026-10")
    run = ScreeningRun.objects.get(pk=result.return_value)
    assert (run.trigger, run.created) == ("batch", 1)
    assert Lead.objects.get().household == world.households["own"]


def test_the_command_line_imports_and_reports_the_counts(world, world_lake, capsys) -> None:
    _costly_stay(world, world_lake)
    assert main(["warnings", "import", "--as-of", "2026-10"]) == 0
    out = capsys.readouterr().out
    assert "新建线索 1" in out and "筛查 3 户" in out
    assert ScreeningRun.objects.get().trigger == "cli"


def test_the_command_line_refuses_a_bad_period_or_policy(world, capsys, tmp_path) -> None:
    assert main(["warnings", "import", "--as-of", "2026-13"]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy_id: x\n", encoding="utf-8")
    assert main(["warnings", "import", "--as-of", "2026-10", "--policy", str(bad)]) == 2
    assert "错误" in capsys.readouterr().err
    assert not ScreeningRun.objects.exists()
