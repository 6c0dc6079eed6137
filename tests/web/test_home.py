"""The home page's registry figures: the user's scope only, counted once per region until the next
analytics refresh (not on every page view: at 10 million persons that is a full count each time)."""

from __future__ import annotations

import datetime as dt
import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import VILLAGE_A, make_household


def _count(page: str, what: str = "household") -> int:
    found = re.search(rf'data-testid="{what}-count">(\d+)<', page)
    assert found, page
    return int(found.group(1))


def _registry_reads(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "registry_" in q["sql"]]


def test_it_shows_each_user_the_figures_of_their_own_scope(client_for) -> None:
    assert _count(client_for("zhang_township").get("/").content.decode()) == 1
    assert _count(client_for("wang_county").get("/").content.decode()) == 2  # own + sibling township
    assert _count(client_for("huang_county_c").get("/").content.decode()) == 1  # the other county only
    assert _count(client_for("zhang_township").get("/").content.decode(), "person") == 2
    assert "household-count" not in client_for("sun_sysadmin").get("/").content.decode()


def test_it_counts_once_and_recounts_after_the_next_analytics_refresh(world, client_for) -> None:
    from fangpin.accounts.models import User
    from fangpin.analytics.models import RefreshRun

    client = client_for("zhang_township")
    client.get("/")  # the session's first write, then the counts
    other = Client()  # another reviewer of the same township reads the same figures
    other.force_login(
        User.objects.create_user(username="zhang2", role="township_reviewer", region_id="360722100")
    )
    other.get("/")
    with CaptureQueriesContext(connection) as ctx:
        page = other.get("/").content.decode()
    assert _count(page) == 1
    assert _registry_reads(ctx) == []  # no count of households or persons on a repeated view
    make_household(f"{VILLAGE_A}0002", VILLAGE_A, [("钟秀英", "01", dt.date(1980, 5, 5), False)])
    assert _count(client.get("/").content.decode()) == 1  # cached until the next refresh
    now = timezone.now()
    RefreshRun.objects.create(month="2026-10", status="done", started_at=now, finished_at=now)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get("/").content.decode()
    assert _count(page) == 2
    assert _registry_reads(ctx)  # counted again, once
