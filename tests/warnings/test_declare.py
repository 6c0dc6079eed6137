"""The public self-declaration form: reached from a village's QR code, consent required, clear errors,
rate-limited, CSRF-protected; the township must accept within 2 days."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import VILLAGE_A, make_id
from fangpin.lib import idcard
from fangpin.regions.models import Region
from fangpin.warnings.models import Declaration, Lead
from fangpin.warnings.views import village_token


@pytest.fixture
def form_url(world) -> str:
    return reverse("warnings:declare", args=[village_token(Region.objects.get(prefix=VILLAGE_A))])


def _data(id_number: str, **extra: str) -> dict[str, str]:
    data = {
        "name": "曾秋英",
        "id_number": id_number,
        "phone": "13812345678",
        "reason_category": "01",
        "reason_text": "丈夫住院，花费四万多元",
        "consent": "on",
    }
    data.update(extra)
    return data


def test_a_cadre_prints_the_villages_qr_code_pointing_to_the_form(world, client_for, form_url) -> None:
    page = client_for("liu_cadre").get(reverse("warnings:village_qr", args=[VILLAGE_A]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body and 'data-testid="qr"' in body
    assert form_url in body  # the printed address is the signed village form
    # a village cadre has one village: the QR index goes straight to it
    index = client_for("liu_cadre").get(reverse("warnings:qr_index"))
    assert index.status_code == 302 and index["Location"].endswith(f"/leads/qr/{VILLAGE_A}/")


def test_a_township_chooses_among_its_villages(world, client_for) -> None:
    body = client_for("zhang_township").get(reverse("warnings:qr_index")).content.decode()
    assert "水东村委会" in body and "水北村委会" in body and "大塘村委会" not in body


def test_the_form_opens_without_login_and_shows_the_consent_text(world, form_url) -> None:
    page = Client().get(form_url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "承诺授权" in body and "查询、核对本人及共同生活家庭成员" in body
    assert "水东村委会" in body


def test_a_forged_token_is_404(world) -> None:
    assert Client().get(reverse("warnings:declare", args=["not-a-token"])).status_code == 404


def test_a_declaration_becomes_a_lead_matched_to_the_household(world, form_url, audit_rows) -> None:
    before = timezone.now()
    response = Client().post(form_url, _data(world.persons["own"].id_number))
    assert response.status_code == 200
    assert "申报已提交" in response.content.decode()
    lead = Lead.objects.get()
    assert (lead.channel, lead.kind, lead.status) == ("self_declaration", "verify", "new")
    assert lead.household == world.households["own"]
    assert lead.risk_types == "01" and "因病" in lead.reasons
    assert before + dt.timedelta(days=2) <= lead.accept_deadline <= timezone.now() + dt.timedelta(days=2)
    declaration = Declaration.objects.get()
    assert declaration.lead == lead and declaration.consent_version
    assert len(declaration.client_key) == 64  # the address is keyed, not stored in clear
    assert audit_rows("LEAD_DECLARED")[0].actor_username == "public"


def test_an_id_not_in_the_registry_stays_in_the_villages_queue_for_matching(
    world, form_url, client_for
) -> None:
    stranger = make_id("360722", dt.date(1970, 1, 1), male=True)
    assert Client().post(form_url, _data(stranger)).status_code == 200
    lead = Lead.objects.get()
    assert lead.household is None and lead.village_id == VILLAGE_A
    # the township matches it to a household, then may accept it
    township = client_for("zhang_township")
    page = township.get(reverse("warnings:lead_detail", args=[lead.pk])).content.decode()
    assert "未匹配到本地农户" in page
    township.post(
        reverse("warnings:lead_match", args=[lead.pk]), {"household_no": world.households["own"].household_no}
    )
    lead.refresh_from_db()
    assert lead.household == world.households["own"]


def test_without_the_consent_nothing_is_saved(world, form_url) -> None:
    data = _data(world.persons["own"].id_number)
    del data["consent"]
    response = Client().post(form_url, data)
    assert response.status_code == 400
    assert "须勾选同意承诺授权" in response.content.decode()
    assert not Lead.objects.exists() and not Declaration.objects.exists()


def test_a_wrong_id_number_gets_a_clear_message_and_the_input_is_kept(world, form_url) -> None:
    good = world.persons["own"].id_number
    bad = idcard.with_wrong_check_char(good)
    response = Client().post(form_url, _data(bad))
    body = response.content.decode()
    assert response.status_code == 400
    assert "身份证号码有误" in body and "校验" in body
    assert "丈夫住院，花费四万多元" in body  # nothing typed is lost
    assert not Lead.objects.exists()


def test_a_bad_phone_number_is_refused(world, form_url) -> None:
    response = Client().post(form_url, _data(world.persons["own"].id_number, phone="12345"))
    assert response.status_code == 400 and "手机号码" in response.content.decode()


def test_the_same_id_is_limited_per_day_and_nothing_half_saved(world, form_url) -> None:
    pid = world.persons["own"].id_number
    for _ in range(3):
        assert Client().post(form_url, _data(pid)).status_code == 200
    limited = Client().post(form_url, _data(pid))
    assert limited.status_code == 429
    assert "24小时内已申报3次" in limited.content.decode()
    assert Declaration.objects.count() == 3
    assert Lead.objects.count() == 3  # the later ones merged into the first open lead
    assert Lead.objects.filter(status="new").count() == 1


def test_one_address_is_limited_per_hour(world, form_url, settings) -> None:
    settings.FANGPIN_DECLARATIONS_PER_CLIENT_PER_HOUR = 2
    for _ in range(2):
        assert Client().post(form_url, _data(make_id("360722", dt.date(1971, 2, 3)))).status_code == 200
    limited = Client().post(form_url, _data(make_id("360722", dt.date(1972, 2, 3))))
    assert limited.status_code == 429 and "提交过于频繁" in limited.content.decode()
    assert Declaration.objects.count() == 2


def test_the_form_is_csrf_protected(world, form_url) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(form_url, _data(world.persons["own"].id_number)).status_code == 403
    page = browser.get(form_url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    ok = browser.post(form_url, {**_data(world.persons["own"].id_number), "csrfmiddlewaretoken": token})
    assert ok.status_code == 200


def test_an_unaccepted_declaration_is_flagged_overdue_after_two_days(world, form_url, client_for) -> None:
    Client().post(form_url, _data(world.persons["own"].id_number))
    Lead.objects.update(accept_deadline=timezone.now() - dt.timedelta(minutes=1))
    township = client_for("zhang_township")
    listing = township.get(reverse("warnings:lead_list")).content.decode()
    assert 'data-testid="overdue-alert"' in listing and "超期未受理" in listing
    only_overdue = township.get(reverse("warnings:lead_list"), {"overdue": "on", "status": "open"})
    assert only_overdue.context["page"].paginator.count == 1


def test_the_declarants_data_is_masked_on_the_lead_page(world, form_url, client_for) -> None:
    pid = world.persons["own"].id_number
    Client().post(form_url, _data(pid))
    lead = Lead.objects.get()
    body = client_for("zhang_township").get(reverse("warnings:lead_detail", args=[lead.pk])).content.decode()
    assert pid not in body and "13812345678" not in body and "曾秋英" not in body
    assert f"{pid[:6]}********{pid[-4:]}" in body and "138****5678" in body and "曾*英" in body


def test_the_township_is_told_of_a_new_declaration(world, form_url) -> None:
    from fangpin.notifications.models import Notification

    Client().post(form_url, _data(world.persons["own"].id_number))
    note = Notification.objects.get(recipient=world.user("zhang_township"))
    assert "自主申报" in note.title and note.url == reverse(
        "warnings:lead_detail", args=[Lead.objects.get().pk]
    )
    assert not Notification.objects.filter(recipient=world.user("li_township_b")).exists()
