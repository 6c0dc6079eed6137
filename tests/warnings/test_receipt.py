"""The receipt a farmer gets for a self-declaration (security issue #14, finding 10): it was ZS000123, the
lead's primary key, so two declarations a week apart told anyone how many leads the county had. It is
now random, short enough to read over the phone, and the township finds it on the lead."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from conftest import VILLAGE_A, make_id
from fangpin.regions.models import Region
from fangpin.warnings.models import Declaration, Lead
from fangpin.warnings.views import village_token

RECEIPT = re.compile(r'data-testid="receipt">(ZS-\d{5}-\d{5})<')


def _declare(id_number: str) -> str:
    url = reverse("warnings:declare", args=[village_token(Region.objects.get(prefix=VILLAGE_A))])
    data = {
        "name": "曾秋英",
        "id_number": id_number,
        "phone": "13812345678",
        "reason_category": "01",
        "reason_text": "住院",
        "consent": "on",
    }
    response = Client(REMOTE_ADDR=f"10.0.0.{len(id_number) % 200}").post(url, data)
    assert response.status_code == 200
    found = RECEIPT.search(response.content.decode())
    assert found, "the page gives a receipt"
    return found.group(1)


def test_receipts_are_random_and_do_not_count_the_declarations(world) -> None:
    first = _declare(world.persons["own"].id_number)
    second = _declare(make_id("360722"))
    leads = list(Lead.objects.order_by("pk"))
    # the attack: consecutive declarations got consecutive numbers, the lead's primary key
    assert first != f"ZS{leads[0].pk:06d}" and second != f"ZS{leads[1].pk:06d}"
    number = [int(r.replace("ZS", "").replace("-", "")) for r in (first, second)]
    assert abs(number[1] - number[0]) > 1000
    assert sorted(Declaration.objects.values_list("receipt", flat=True)) == sorted([first, second])


def test_the_township_finds_the_receipt_on_the_lead(world, client_for) -> None:
    receipt = _declare(world.persons["own"].id_number)
    lead = Lead.objects.get()
    page = client_for("zhang_township").get(reverse("warnings:lead_detail", args=[lead.pk])).content.decode()
    assert f'data-testid="receipt">{receipt}<' in page
