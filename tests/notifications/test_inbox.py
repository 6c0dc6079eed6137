from __future__ import annotations

from fangpin.notifications import actions
from fangpin.notifications.models import Notification


def test_the_inbox_lists_only_my_messages_and_the_badge_counts_unread(world, client_for) -> None:
    actions.notify([world.user("xiao_grid")], "水东村 新核实任务", "肖*香户", "/cases/1/")
    actions.notify([world.user("zhang_township")], "别人的消息")
    client = client_for("xiao_grid")
    page = client.get("/inbox/").content.decode()
    assert "水东村 新核实任务" in page and "别人的消息" not in page
    assert 'data-testid="unread-badge">1<' in page  # the badge in the top bar of every page
    assert 'data-testid="unread-badge">1<' in client.get("/inbox/badge/").content.decode()


def test_opening_a_message_marks_it_read_and_follows_its_link(world, client_for) -> None:
    (row,) = actions.notify([world.user("xiao_grid")], "任务", url="/cases/1/")
    response = client_for("xiao_grid").post(f"/inbox/{row.pk}/read/", {"follow": "1"})
    assert response.status_code == 302 and response["Location"] == "/cases/1/"
    row.refresh_from_db()
    assert row.read_at is not None


def test_it_never_redirects_off_site(world, client_for) -> None:
    (row,) = actions.notify([world.user("xiao_grid")], "钓鱼", url="https://evil.example/")
    response = client_for("xiao_grid").post(f"/inbox/{row.pk}/read/", {"follow": "1"})
    assert response["Location"] == "/inbox/"


def test_it_refuses_to_mark_someone_elses_message(world, client_for, audit_rows) -> None:
    (row,) = actions.notify([world.user("zhang_township")], "张的消息")
    response = client_for("xiao_grid").post(f"/inbox/{row.pk}/read/")
    assert response.status_code == 404
    assert Notification.objects.get(pk=row.pk).read_at is None
    assert audit_rows("ACCESS_DENIED", actor_username="xiao_grid")


def test_mark_all_read(world, client_for) -> None:
    actions.notify([world.user("xiao_grid")], "一")
    actions.notify([world.user("xiao_grid")], "二")
    client_for("xiao_grid").post("/inbox/read-all/")
    assert actions.unread_count(world.user("xiao_grid")) == 0
    assert 'data-testid="unread-badge"' not in client_for("xiao_grid").get("/inbox/").content.decode()
