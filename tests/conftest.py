"""Shared fixtures: a small real region tree and named personas of every role.

The places (real statistical codes):
  信丰县 360722 — 嘉定镇 360722100 (水东村 360722100200, 水北村 360722100201) — our township "A"
                — 大塘埠镇 360722101 (大塘村 360722101200)                  — the sibling township "B"
  于都县 360731 — 贡江镇 360731100 (长征村 360731100200)                    — the other county "C"

Personas live in A or at Xinfeng county level, plus one reviewer in B and one approver in C, so every
permission test is one line: `client_for("zhang_township")`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from fangpin.lib import idcard
from fangpin.pipeline.catalog import Catalog, load_catalog
from fangpin.pipeline.engine import DuckDBEngine
from fangpin.pipeline.lake import Lake

# Playwright's sync API runs an event loop in the test thread; Django's ORM is still used synchronously.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "Shuidong-Village-2026!"

REGIONS = [
    ("36", "江西省", "province", None),
    ("3607", "赣州市", "city", "36"),
    ("360722", "信丰县", "county", "3607"),
    ("360722100", "嘉定镇", "township", "360722"),
    ("360722100200", "水东村委会", "village", "360722100"),
    ("360722100201", "水北村委会", "village", "360722100"),
    ("360722101", "大塘埠镇", "township", "360722"),
    ("360722101200", "大塘村委会", "village", "360722101"),
    ("360731", "于都县", "county", "3607"),
    ("360731100", "贡江镇", "township", "360731"),
    ("360731100200", "长征村委会", "village", "360731100"),
]

VILLAGE_A = "360722100200"
VILLAGE_B = "360722101200"
VILLAGE_C = "360731100200"

# username → (role, region, full name, department)
PERSONAS: dict[str, tuple[str, str, str, str]] = {
    "xiao_grid": ("grid_worker", VILLAGE_A, "肖凤香", ""),
    "liu_cadre": ("village_cadre", VILLAGE_A, "刘建国", ""),
    "zhang_township": ("township_reviewer", "360722100", "张伟", ""),
    "li_township_b": ("township_reviewer", "360722101", "李娜", ""),
    "wang_county": ("county_approver", "360722", "王强", ""),
    "huang_county_c": ("county_approver", "360731", "黄敏", ""),
    "chen_analyst": ("analyst", "360722", "陈静", ""),
    "zhao_data": ("data_officer", "360722", "赵磊", "medical_security"),
    "sun_sysadmin": ("system_admin", "360722", "孙涛", ""),
    "zhou_secadmin": ("security_admin", "360722", "周洁", ""),
    "wu_auditor": ("audit_admin", "360722", "吴刚", ""),
}


def pytest_configure(config: pytest.Config) -> None:
    """Transactional tests empty the database afterwards, which the append-only audit table refuses;
    the flush suspends it the way an owner's retention purge would. (Wrapped for the whole session:
    pytest-django flushes after function-scoped patches are undone.)"""
    from django.db.backends.base.operations import BaseDatabaseOperations

    from fangpin.audit.maintenance import append_only_suspended

    original = BaseDatabaseOperations.execute_sql_flush

    def flush(self: BaseDatabaseOperations, sql_list: list[str]) -> None:
        with append_only_suspended(self.connection):
            original(self, sql_list)

    BaseDatabaseOperations.execute_sql_flush = flush  # type: ignore[method-assign]

    # Background jobs run inline in tests (the handler reads TASKS on first use, after this).
    from django.conf import settings

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _private_lake(settings: object, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test gets its own data lake, upload folder and audit anchor file, never the developer's ./var."""
    root = tmp_path_factory.mktemp("home")
    settings.FANGPIN_LAKE = str(root / "lake")  # type: ignore[attr-defined]
    settings.FANGPIN_INCOMING = root / "incoming"  # type: ignore[attr-defined]
    settings.AUDIT_ANCHOR_FILE = root / "audit-anchors.log"  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fast_hashing(settings: object) -> None:
    # PBKDF2 at full strength makes each login ~0.3 s; one test checks the production hasher itself.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


def make_regions() -> None:
    from fangpin.regions.models import Region

    for prefix, name, level, parent in REGIONS:
        Region.objects.create(prefix=prefix, name=name, level=level, parent_id=parent, full_name=name)


# IDs need only be unique within one test (each test has a fresh database), so the sequence cycles.
_sequence = itertools.cycle(range(1, 500))


def make_id(area: str = "360722", born: dt.date = dt.date(1980, 5, 17), male: bool = True) -> str:
    return idcard.make(area, born, next(_sequence), male)


@dataclass
class World:
    users: dict[str, object]
    households: dict[str, object]  # "own" (village A), "sibling" (township B), "other" (county C)
    persons: dict[str, object]

    def user(self, name: str) -> object:
        return self.users[name]


def make_household(household_no: str, village: str, members: list[tuple[str, str, dt.date, bool]]) -> object:
    """members: (name, relation, birth date, male)."""
    from fangpin.registry.models import Household, Membership, Person

    household = Household.objects.create(
        household_no=household_no, household_type="former_poor", village_id=village
    )
    for name, relation, born, male in members:
        person = Person.objects.create(
            id_number=make_id(village[:6], born, male),
            name=name,
            gender="1" if male else "2",
            birth_date=born,
        )
        Membership.objects.create(
            person=person,
            household=household,
            relation=relation,
            start_date=dt.date(2020, 1, 1),
            start_reason="registered",
        )
    return household


@pytest.fixture
def world(db: None) -> World:
    from fangpin.accounts.models import User

    make_regions()
    users = {}
    for username, (role, region, full_name, department) in PERSONAS.items():
        user = User(
            username=username, role=role, region_id=region, full_name=full_name, department=department
        )
        user.set_password(PASSWORD)
        user.save()
        users[username] = user
    households = {
        "own": make_household(
            f"{VILLAGE_A}0001",
            VILLAGE_A,
            [("肖凤香", "01", dt.date(1968, 3, 2), False), ("曾小明", "03", dt.date(2012, 9, 1), True)],
        ),
        "sibling": make_household(
            f"{VILLAGE_B}0001", VILLAGE_B, [("钟国华", "01", dt.date(1975, 7, 7), True)]
        ),
        "other": make_household(
            f"{VILLAGE_C}0001", VILLAGE_C, [("谢春兰", "01", dt.date(1959, 1, 30), False)]
        ),
    }
    persons = {key: h.memberships.first().person for key, h in households.items()}  # type: ignore[attr-defined]
    return World(users=users, households=households, persons=persons)


@pytest.fixture
def client_for(world: World) -> Callable[[str], Client]:
    """A client signed in as a persona (session set up as a real login would)."""

    def make(username: str) -> Client:
        client = Client()
        client.force_login(world.users[username])  # type: ignore[arg-type]
        return client

    return make


@pytest.fixture
def audit_rows() -> Callable[..., list[object]]:
    from fangpin.audit.models import AuditEvent

    def rows(event_type: str, **filters: object) -> list[object]:
        return list(AuditEvent.objects.filter(event_type=event_type, **filters).order_by("id"))

    return rows


# --- the Django-free pipeline (tests/pipeline, tests/screening) ----------------------------------------


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def engine() -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(threads=2)
    yield eng
    eng.close()


@pytest.fixture
def lake(tmp_path: Path, catalog: Catalog, engine: DuckDBEngine) -> Lake:
    return Lake(tmp_path / "lake", catalog=catalog, engine=engine)


def enrol_totp(username: str) -> str:
    """Bind an authenticator to a persona as a confirmed enrolment would; returns its base32 secret."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from fangpin.accounts import second_factor
    from fangpin.accounts.models import User

    device = TOTPDevice.objects.create(user=User.objects.get(username=username), confirmed=True)
    return second_factor.manual_key(device)
