from __future__ import annotations

from fangpin.notifications.models import Webhook

from .test_notify import Robot


def test_the_system_administrator_adds_tests_and_disables_a_robot(world, client_for, audit_rows) -> None:
    client = client_for("sun_sysadmin")
    with Robot() as robot:
        response = client.post(
            "/inbox/robots/",
            {
                "region_id": "360722100",
                "kind": "dingtalk",
                "name": "嘉定镇防返贫工作群",
                "url": f"{robot.url}/robot/send?access_token=secret-key",
                "secret": "SEC123",
            },
        )
        assert response.status_code == 302
        hook = Webhook.objects.get()
        assert hook.region_id == "360722100" and hook.secret == "SEC123"
        page = client.get("/inbox/robots/").content.decode()
        assert "嘉定镇防返贫工作群" in page and "SEC123" not in page and "secret-key" not in page
        client.post(f"/inbox/robots/{hook.pk}/", {"action": "test"})
        (post,) = robot.posts
        assert post["body"]["markdown"]["title"] == "测试消息" and "sign" in post["query"]
    client.post(f"/inbox/robots/{hook.pk}/", {"action": "disable"})
    hook.refresh_from_db()
    assert not hook.active
    (added,) = audit_rows("WEBHOOK_ADDED")
    assert "secret-key" not in str(added.data)  # the key in the URL is not copied into the log
    assert audit_rows("WEBHOOK_INACTIVE")


def test_a_robot_test_against_a_dead_address_reports_the_failure(world, client_for) -> None:
    with Robot() as gone:
        url = gone.url
    hook = Webhook.objects.create(region_id="360722100", kind="wecom", name="x", url=f"{url}/send")
    response = client_for("sun_sysadmin").post(f"/inbox/robots/{hook.pk}/", {"action": "test"}, follow=True)
    assert "测试消息发送失败" in response.content.decode()


def test_only_system_administrators_of_the_region_manage_robots(world, client_for) -> None:
    other = Webhook.objects.create(
        region_id="360731100", kind="wecom", name="x", url="https://qyapi.example/x"
    )
    assert (
        client_for("sun_sysadmin").post(f"/inbox/robots/{other.pk}/", {"action": "disable"}).status_code
        == 404
    )
    assert client_for("wang_county").get("/inbox/robots/").status_code == 403
    refused = client_for("sun_sysadmin").post(
        "/inbox/robots/",
        {"region_id": "360731", "kind": "wecom", "name": "x", "url": "https://qyapi.example/y"},
    )
    assert refused.status_code == 400 and Webhook.objects.count() == 1
