"""三员分立 and account administration (SECURITY.md AC-06, AUTH-01, AUTH-06)."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import PASSWORD
from fangpin.accounts.models import User


def test_the_system_admin_creates_an_account_with_a_one_time_initial_password(
    world, client_for, audit_rows
) -> None:
    response = client_for("sun_sysadmin").post(
        "/users/new/",
        {"username": "gu_grid", "full_name": "古丽", "role": "grid_worker", "region": "360722100201"},
    )
    assert response.status_code == 200
    initial = response.context["initial"]
    user = User.objects.get(username="gu_grid")
    assert user.must_change_password and user.check_password(initial)
    assert audit_rows("ACCOUNT_CREATED")[0].data["role"] == "grid_worker"
    client = Client()
    client.post("/login/", {"username": "gu_grid", "password": initial})
    assert client.get("/households/")["Location"] == "/account/password/"


@pytest.mark.parametrize(
    ("role", "region", "why"),
    [
        ("county_approver", "360722100", "a county approver at a township"),
        ("grid_worker", "360731100200", "a region outside the admin's county"),
        ("data_officer", "360722", "a data officer without a department"),
        ("nonsense", "360722", "an unknown role"),
    ],
)
def test_it_refuses_an_inconsistent_account(world, client_for, role: str, region: str, why: str) -> None:
    response = client_for("sun_sysadmin").post(
        "/users/new/", {"username": "new_one", "full_name": "新人", "role": role, "region": region}
    )
    assert response.status_code == 200, why
    assert not User.objects.filter(username="new_one").exists(), why


@pytest.mark.parametrize("name", ["admin", "root", "test", "zhang_township"])
def test_it_refuses_default_or_taken_usernames(world, client_for, name: str) -> None:
    before = User.objects.count()
    client_for("sun_sysadmin").post(
        "/users/new/", {"username": name, "full_name": "某人", "role": "analyst", "region": "360722"}
    )
    assert User.objects.count() == before


def test_only_the_security_admin_assigns_roles(world, client_for, audit_rows) -> None:
    target = User.objects.get(username="xiao_grid")
    data = {"role": "village_cadre", "region": "360722100200", "department": "", "version": target.version}
    client_for("sun_sysadmin").post(f"/users/{target.pk}/", data)
    assert User.objects.get(pk=target.pk).role == "grid_worker"
    client_for("zhou_secadmin").post(f"/users/{target.pk}/", data)
    assert User.objects.get(pk=target.pk).role == "village_cadre"
    assert audit_rows("ROLE_ASSIGNED")[0].data["old"]["role"] == "grid_worker"


def test_a_stale_role_form_is_a_conflict_not_a_lost_update(world, client_for) -> None:
    target = User.objects.get(username="xiao_grid")
    client = client_for("zhou_secadmin")
    stale = target.version
    client.post(f"/users/{target.pk}/", {"role": "village_cadre", "region": "360722100200", "version": stale})
    response = client.post(
        f"/users/{target.pk}/", {"role": "grid_worker", "region": "360722100201", "version": stale}
    )
    assert "已被他人修改" in response.content.decode()
    assert User.objects.get(pk=target.pk).role == "village_cadre"


def test_deactivating_a_user_ends_their_sessions(world, client_for) -> None:
    victim = Client()
    victim.post("/login/", {"username": "xiao_grid", "password": PASSWORD})
    assert victim.get("/households/").status_code == 200
    target = User.objects.get(username="xiao_grid")
    client_for("sun_sysadmin").post(f"/users/{target.pk}/deactivate/")
    assert victim.get("/households/").status_code == 302


def test_the_system_admin_unlocks_and_resets(world, client_for) -> None:
    target = User.objects.get(username="xiao_grid")
    for _ in range(5):
        Client().post("/login/", {"username": "xiao_grid", "password": "Wrong-pass-1234"})
    assert User.objects.get(pk=target.pk).is_locked()
    admin = client_for("sun_sysadmin")
    admin.post(f"/users/{target.pk}/unlock/")
    assert not User.objects.get(pk=target.pk).is_locked()
    response = admin.post(f"/users/{target.pk}/reset_password/")
    assert User.objects.get(pk=target.pk).check_password(response.context["initial"])


def test_admins_cannot_act_on_accounts_of_another_county(world, client_for) -> None:
    other = User.objects.get(username="huang_county_c")
    assert client_for("sun_sysadmin").post(f"/users/{other.pk}/deactivate/").status_code == 404
    assert User.objects.get(pk=other.pk).is_active


@pytest.mark.parametrize("persona", ["sun_sysadmin", "zhou_secadmin", "wu_auditor"])
def test_administrators_see_no_business_data(world, client_for, persona: str) -> None:
    client = client_for(persona)
    assert client.get("/households/").status_code == 403
    assert client.get(f"/households/{world.households['own'].pk}/").status_code == 403


def test_the_auditor_cannot_manage_accounts(world, client_for) -> None:
    client = client_for("wu_auditor")
    assert client.get("/users/").status_code == 403
    assert client.post("/users/new/", {"username": "x"}).status_code == 403


def test_one_account_holds_exactly_one_role(world) -> None:
    field = User._meta.get_field("role")
    assert not field.many_to_many and not field.null and not field.blank
