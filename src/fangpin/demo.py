"""`fangpin demo`: the whole loop as far as it exists, on the embedded SQLite database.

1. the official division codes of Jiangxi (36);
2. a synthetic 信丰县 (360722) from the simulator, month by month;
3. the household registry built from the police 户籍 snapshots (dated history) and the agriculture roster;
4. one demo account per role, with fresh random passwords printed once.
"""

from __future__ import annotations

import csv
import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from fangpin.accounts.actions import create_user
from fangpin.accounts.models import User
from fangpin.audit.actions import record
from fangpin.lib import idcard
from fangpin.regions.actions import load_divisions
from fangpin.regions.models import Region
from fangpin.registry.actions import PersonRow, load_police_snapshot
from fangpin.registry.models import Household

PROVINCE = "36"
COUNTY = "360722"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    full_name: str
    department: str = ""


def _month_end(period: str) -> dt.date:
    first = dt.date.fromisoformat(f"{period}-01")
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def _read_rows(path: Path) -> list[dict[str, str]]:
    """A clean canonical CSV delivery read as text (full validation is the exchange's job)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def recent_periods(months: int, today: dt.date) -> list[str]:
    """The last `months` complete or current months, oldest first (ending with today's month)."""
    year, month = today.year, today.month
    periods = []
    for _ in range(months):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return periods[::-1]


def build_population(
    out: Path, households: int, seed: int, months: int, say: Callable[[str], None]
) -> dict[str, int]:
    """Simulate the county and apply each month's police snapshot to the registry, oldest first."""
    from fangpin.synth import DefectRates, SynthConfig, generate

    periods = recent_periods(months, timezone.localdate())
    config = SynthConfig(
        province=PROVINCE,
        county=COUNTY,
        households=households,
        months=months,
        start=periods[0],
        seed=seed,
        defects=DefectRates.none(),
    )
    say(f"模拟信丰县 {households} 户，{periods[0]} 至 {periods[-1]} / simulating the county…")
    generate(config, out, progress=True)
    totals = {"persons_created": 0, "households_created": 0, "moved": 0, "status_changed": 0, "rejected": 0}
    for period in tqdm(periods, desc="户籍 registry", unit="月"):
        folder = out / "deliveries" / period
        roster_file = folder / "ag_roster.csv"
        roster = (
            {r["household_no"]: r["household_type"] for r in _read_rows(roster_file)}
            if roster_file.exists()
            else {}
        )
        rows = []
        for raw in _read_rows(folder / "ps_person.csv"):
            if idcard.problem(raw["id_number"]) is not None:
                totals["rejected"] += 1  # counted and reported, never silently dropped
                continue
            facts = idcard.facts(raw["id_number"])
            rows.append(
                PersonRow(
                    id_number=idcard.normalize(raw["id_number"]),
                    name=raw["name"],
                    gender=facts.gender,
                    birth_date=facts.birth_date,
                    household_no=raw["household_no"],
                    relation=raw["relation"],
                    village_code=raw["village_code"],
                    status=raw["status"],
                    status_date=dt.date.fromisoformat(raw["status_date"]) if raw.get("status_date") else None,
                )
            )
        counts = load_police_snapshot(rows, as_of=_month_end(period), household_types=roster)
        for key in ("persons_created", "households_created", "moved", "status_changed"):
            totals[key] += counts[key]
        _apply_household_types(roster)
    return totals


@transaction.atomic
def _apply_household_types(roster: dict[str, str]) -> None:
    """The agriculture roster is the authority on 脱贫户 status."""
    former = [no for no, kind in roster.items() if kind == "former_poor"]
    Household.objects.filter(household_no__in=former).exclude(household_type="former_poor").update(
        household_type="former_poor"
    )


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
            record("DEMO_PASSWORD_SET", object_type="user", object_id=user.pk)
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
            f"户籍已建立 / registry built: {totals['households_created']} 户, {totals['persons_created']} 人, "
            f"{totals['moved']} 次迁移/分户, {totals['status_changed']} 次死亡/迁出, {totals['rejected']} 行身份号码无效被拒"
        )
    else:
        say("已有演示数据，跳过模拟 / demo data present, keeping it (delete FANGPIN_HOME to start over)")
    return ensure_accounts()
