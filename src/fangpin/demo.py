"""`fangpin demo`: the whole loop as far as it exists, on the embedded SQLite database.

1. the official division codes of Jiangxi (36);
2. a synthetic 信丰县 (360722) from the simulator: 13 departments' deliveries with realistic defects;
3. each month imported through the exchange: validated, quarantined with reasons, linked, in the lake;
   the household registry is built from the police 户籍 snapshots (dated history);
4. the county's existing 监测对象台账 (written from the simulated roster, as the national system exports
   it) imported as cases in their current state, and reconciled with the roster;
4b. the latest month screened (policy rules + the learned ranking); pushed warnings become leads;
5. one demo account per role, with fresh random passwords printed once;
6. cases in every state of identification and elimination (some overdue) through the real actions,
   assistance plans for the monitored households, and the dashboards' indicators and regional scan.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from tqdm import tqdm

from fangpin.accounts.actions import create_user
from fangpin.accounts.models import User
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.lib.periods import recent_periods
from fangpin.regions.actions import load_divisions
from fangpin.regions.models import Region
from fangpin.registry.models import Household

PROVINCE = "36"
COUNTY = "360722"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    full_name: str
    department: str = ""


def build_population(
    out: Path, households: int, seed: int, months: int, say: Callable[[str], None]
) -> dict[str, int]:
    """Simulate the county's department deliveries (with realistic defects) and import them month by
    month through the exchange, exactly as real deliveries arrive: the registry is built from the police
    snapshot, every row is validated, bad rows are quarantined with a reason."""
    from fangpin.exchange import actions
    from fangpin.exchange.models import Source, Status
    from fangpin.synth import SynthConfig, generate

    periods = recent_periods(months, timezone.localdate())
    # History from January of last year, so that the first delivery carries a whole year's income survey.
    burn_in = 12 + int(periods[0][5:7]) - 1
    config = SynthConfig(
        province=PROVINCE,
        county=COUNTY,
        households=households,
        months=months,
        start=periods[0],
        seed=seed,
        burn_in=burn_in,
    )
    say(
        f"模拟信丰县 {households} 户的部门数据，{periods[0]} 至 {periods[-1]} / simulating the county's deliveries…"
    )
    generate(config, out, progress=True)
    totals = {"files": 0, "read": 0, "accepted": 0, "rejected": 0}
    with actions.registry_snapshot():  # the registry is read once per change, not once per file
        for period in periods:
            plan = actions.plan_folder(out / "deliveries" / period)
            for dataset, file in tqdm(plan.files, desc=f"导入 import {period}", unit="文件"):
                delivery = actions.import_file(file, dataset, period, source=Source.CLI, username="demo")
                if delivery.status == Status.FAILED:  # the demo's own data must import: stop loudly
                    raise RuntimeError(f"{dataset} {period}: {delivery.message}")
                totals["files"] += 1
                for key in ("read", "accepted", "rejected"):
                    totals[key] += getattr(delivery, key)
    return totals


def demo_accounts() -> list[DemoAccount]:
    return [
        DemoAccount("xf_grid", "grid_worker", "肖凤香"),
        DemoAccount("xf_cadre", "village_cadre", "刘建国"),
        DemoAccount("xf_township", "township_reviewer", "张伟"),
        DemoAccount("xf_county", "county_approver", "王强"),
        DemoAccount("xf_analyst", "analyst", "陈静"),
        DemoAccount("xf_data_med", "data_officer", "赵磊", "medical_security"),
        DemoAccount("xf_sysadmin", "system_admin", "孙涛"),
        DemoAccount("xf_secadmin", "security_admin", "周洁"),
        DemoAccount("xf_auditor", "audit_admin", "吴刚"),
    ]


def _demo_places() -> dict[str, Region]:
    """The busiest village of the county's busiest township, so the demo grid worker has households."""
    from django.db.models import Count

    busiest = (
        Household.objects.filter(village__prefix__startswith=COUNTY)
        .values("village_id")
        .annotate(n=Count("id"))
        .order_by("-n", "village_id")
        .first()
    )
    village = (
        Region.objects.get(prefix=busiest["village_id"])
        if busiest
        else Region.objects.filter(prefix__startswith=COUNTY, level="village").first()
    )
    assert village is not None
    return {
        "village": village,
        "township": Region.objects.get(prefix=village.prefix[:9]),
        "county": Region.objects.get(prefix=COUNTY),
    }


LEVEL_OF_ROLE = {
    "grid_worker": "village",
    "village_cadre": "village",
    "township_reviewer": "township",
}


def ensure_accounts() -> list[tuple[DemoAccount, str, str]]:
    """Create the demo accounts, or give existing ones a fresh password. Returns (account, password, place)."""
    places = _demo_places()
    result = []
    for account in demo_accounts():
        region = places[LEVEL_OF_ROLE.get(account.role, "county")]
        password = f"Fp-{secrets.token_urlsafe(9)}7"
        user = User.objects.filter(username=account.username).first()
        if user is None:
            user, _ = create_user(
                actor=None,
                username=account.username,
                full_name=account.full_name,
                role=account.role,
                region=region,
                department=account.department,
                password=password,
            )
        else:
            user.set_password(password)
            user.password_changed_at = timezone.now()
            user.failed_logins, user.locked_until, user.is_active = 0, None, True
            user.save(
                update_fields=[
                    "password",
                    "password_changed_at",
                    "failed_logins",
                    "locked_until",
                    "is_active",
                ]
            )
            record(Event.DEMO_PASSWORD_SET, object_type="user", object_id=user.pk)
        result.append((account, password, region.full_name or region.name))
    return result


def run(households: int, seed: int, say: Callable[[str], None]) -> list[tuple[DemoAccount, str, str]]:
    home = Path(settings.FANGPIN_HOME)
    if (
        not Region.objects.filter(prefix=PROVINCE).exists()
        or not Region.objects.filter(prefix__startswith=COUNTY, level="village").exists()
    ):
        say("导入江西省区划代码 / loading Jiangxi's division codes…")
        with tqdm(desc="区划 regions", unit="") as bar:
            load_divisions(PROVINCE, progress=bar.update)
    if not Household.objects.filter(village__prefix__startswith=COUNTY).exists():
        totals = build_population(
            home / "synth" / f"{COUNTY}-seed{seed}", households, seed, months=3, say=say
        )
        say(
            f"已导入 {totals['files']} 个交付文件 / imported: 读取 {totals['read']} 行，入库 {totals['accepted']}，"
            f"拒收 {totals['rejected']}（原因见“数据交换”页面）；户籍 {Household.objects.count()} 户"
        )
    else:
        say("已有演示数据，跳过模拟 / demo data present, keeping it (delete FANGPIN_HOME to start over)")
    onboard_county(home / "synth" / f"{COUNTY}-seed{seed}", seed, say)
    screen_latest(home, say)
    accounts = ensure_accounts()  # before the cases, so the demo's own grid worker and cadre get tasks
    populate_workflow(say)
    refresh_oversight(say)
    return accounts


def onboard_county(synth_dir: Path, seed: int, say: Callable[[str], None]) -> None:
    """Day one of the county: its existing 监测对象台账 (written from the simulated roster and registry,
    as the national system exports it) imported through the onboarding action, then reconciled with the
    roster. Idempotent: a second run finds every household imported already."""
    from fangpin.assistance import demo as assistance_demo
    from fangpin.assistance.onboarding import import_ledger
    from fangpin.assistance.reconcile import reconcile

    county = Region.objects.get(prefix=COUNTY)
    path = Path(settings.FANGPIN_HOME) / "synth" / f"台账-{COUNTY}.xlsx"
    written = assistance_demo.write_ledger(COUNTY, synth_dir, path, seed=seed)
    report = import_ledger(path, county, username="demo").as_dict()
    say(
        f"监测对象台账 / the county's existing roster {path.name}: {written} 户，新建案件 {report['created']}"
        f"（已消除风险 {report['eliminated']}），已导入 {report['unchanged']}，拒收 {report['rejected']}"
    )
    counts = reconcile(county, recent_periods(1, timezone.localdate())[0], username="demo")
    say(
        f"名册核对 / roster reconciliation: 差异 {sum(v for k, v in counts.items() if k not in ('new', 'closed'))} 户"
    )


def screen_latest(home: Path, say: Callable[[str], None]) -> None:
    """Department screening of the latest month with the policy rules and the learned ranking: the CSV
    for a look in Excel, and the pushed warnings stored as leads in the queue (idempotent)."""
    from fangpin.cli import main as fangpin_cli
    from fangpin.warnings.screening import screen_period

    period = recent_periods(1, timezone.localdate())[0]
    out = home / f"warnings-{period}.csv"
    say(f"筛查 {period} / screening the latest month → {out}")
    fangpin_cli(["screen", "--as-of", period, "--lake", str(settings.FANGPIN_LAKE), "--out", str(out)])
    run = screen_period(period, trigger="demo")
    say(
        f"预警线索 / leads: 筛查 {run.households} 户，推送 {run.warnings} 条，新建 {run.created}，"
        f"合并 {run.merged}（模型 model {run.model_version or '—'}）"
    )


def populate_workflow(say: Callable[[str], None]) -> None:
    """Cases in every state (some overdue) through the real actions, and assistance plans for the
    monitored households — once; a re-run keeps what is there."""
    from fangpin.assistance import demo as assistance_demo
    from fangpin.cases import demo as cases_demo
    from fangpin.cases.models import Case

    if Case.objects.filter(village__prefix__startswith=COUNTY, source="").exists():  # not the imported 台账
        say("已有演示案件，保留 / demo cases present, keeping them")
        return
    village = _demo_places()["village"]
    states = cases_demo.populate(COUNTY, focus_village=village.prefix)
    plans = assistance_demo.populate(COUNTY)
    say(
        "监测识别 / cases: "
        + "，".join(f"{state} {n}" for state, n in sorted(states.items()))
        + f"；逾期 overdue {cases_demo.overdue_count(COUNTY)}；帮扶 plans: {dict(plans)}"
    )


def refresh_oversight(say: Callable[[str], None]) -> None:
    """Pre-aggregated indicators for the dashboards and the regional-scale risk scan of the latest month."""
    from fangpin.analytics.actions import refresh, run_scan

    periods = recent_periods(3, timezone.localdate())
    say("汇总监测指标 / refreshing the dashboards' indicators…")
    refresh(periods)
    alerts = run_scan(periods[-1], county=COUNTY)
    say(f"区域性风险扫描 / regional-scale risk scan {periods[-1]}: {len(alerts)} 个预警 alerts")
