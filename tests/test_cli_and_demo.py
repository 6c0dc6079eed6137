"""The command line and the demo, as a newcomer meets them."""

from __future__ import annotations

import io
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from fangpin import cli
from fangpin.accounts.models import User
from fangpin.registry.models import Household, Person


def test_the_help_speaks_chinese_and_english() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fangpin.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "防贫" in result.stdout and "monitoring" in result.stdout
    for command in ("demo", "serve", "migrate", "regions", "users", "audit", "synth"):
        assert command in result.stdout


def test_users_create_reads_a_password_from_stdin(world, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Ganjiang-River-2026!\n"))
    code = cli.main(
        [
            "users",
            "create",
            "--username",
            "tang_analyst",
            "--role",
            "analyst",
            "--region",
            "360722",
            "--password-stdin",
        ]
    )
    assert code == 0
    user = User.objects.get(username="tang_analyst")
    assert user.check_password("Ganjiang-River-2026!") and not user.must_change_password


def test_users_create_explains_a_wrong_role_level(world, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["users", "create", "--username", "x_county", "--role", "county_approver", "--region", "360722100"]
    )
    assert code == 2 and "不能设在" in capsys.readouterr().err


def test_users_create_explains_an_unknown_region(world, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["users", "create", "--username", "x_county", "--role", "county_approver", "--region", "999999"]
    )
    assert code == 2 and "区划不存在" in capsys.readouterr().err


@pytest.mark.slow
def test_the_demo_builds_a_county_and_accounts_that_can_log_in(db: None, settings, tmp_path: Path) -> None:
    settings.FANGPIN_HOME = tmp_path
    out = io.StringIO()
    call_command("demo", households=300, seed=3, serve=False, stdout=out)
    assert Household.objects.filter(village__prefix__startswith="360722").count() >= 300
    assert Person.objects.count() > 600
    accounts = (tmp_path / "demo-accounts.txt").read_text(encoding="utf-8").splitlines()
    assert len(accounts) == 9
    assert stat.S_IMODE((tmp_path / "demo-accounts.txt").stat().st_mode) == 0o600
    warnings = list(tmp_path.glob("warnings-*.csv"))
    assert len(warnings) == 1 and warnings[0].read_text(encoding="utf-8-sig").startswith(
        "household_no,score,grade"
    )
    # the whole loop: screened leads, cases in many states (some overdue), plans, indicators
    from fangpin.analytics.models import Indicator
    from fangpin.assistance.models import AssistancePlan
    from fangpin.cases.demo import overdue_count
    from fangpin.cases.models import Case
    from fangpin.warnings.models import Lead

    assert Lead.objects.filter(channel="department").exists()
    states = set(Case.objects.values_list("state", flat=True))
    assert {"verifying", "township_review", "monitored", "eliminated"} <= states
    assert overdue_count("360722") > 0
    assert AssistancePlan.objects.exists() and Indicator.objects.exists()
    # day one: the county's 台账 (written from the simulated roster) imported; the dashboards count them
    from django.utils import timezone

    from fangpin.assistance.reconcile import roster_statuses

    month = timezone.localdate().strftime("%Y-%m")
    roster_monitored = {k for k, v in roster_statuses(month).items() if v == "monitored"}
    imported = Case.objects.filter(source="national", kind="identification")
    assert roster_monitored and roster_monitored <= set(imported.values_list("household_id", flat=True))
    county = Indicator.objects.get(region="360722", code="monitored_households", dimension="", month=month)
    assert county.value >= len(roster_monitored)
    assert (tmp_path / "synth" / "台账-360722.xlsx").exists()
    imported_count = imported.count()
    username, password = accounts[2].split()[:2]  # the township reviewer
    client = Client()
    client.post("/login/", {"username": username, "password": password})
    page = client.get("/households/")
    assert page.status_code == 200 and "辖区农户" in page.content.decode()
    # A second run keeps the data and issues fresh passwords.
    call_command("demo", households=300, seed=3, serve=False, stdout=io.StringIO())
    assert (tmp_path / "demo-accounts.txt").read_text(encoding="utf-8").splitlines()[2].split()[1] != password
    assert Case.objects.filter(source="national", kind="identification").count() == imported_count
