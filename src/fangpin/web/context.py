from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from fangpin.accounts.roles import Can

# (label, url name, capabilities that show the entry — any one of them)
NAVIGATION: list[tuple[str, str, tuple[Can, ...]]] = [
    ("农户档案", "registry:household_list", (Can.VIEW_HOUSEHOLDS,)),
    (
        "我的任务",
        "cases:my_tasks",
        (Can.VERIFY_HOUSEHOLD, Can.VILLAGE_REVIEW, Can.TOWNSHIP_REVIEW, Can.COUNTY_APPROVE),
    ),
    ("预警线索", "warnings:lead_list", (Can.VIEW_LEADS,)),
    ("监测识别", "cases:case_list", (Can.VIEW_LEADS,)),
    ("帮扶措施", "assistance:plan_list", (Can.VIEW_LEADS,)),
    ("监测台账", "assistance:roster", (Can.EXPORT_ROSTER,)),
    ("监测分析", "analytics:home", (Can.VIEW_ANALYTICS,)),
    ("导出审批", "privacy:export_requests", (Can.EXPORT_ROSTER, Can.VIEW_ANALYTICS)),
    ("区划与网格", "regions:region_home", (Can.VIEW_REGIONS,)),
    ("数据交换", "exchange:catalog", (Can.VIEW_EXCHANGE,)),
    ("预警反馈", "warnings:feedback", (Can.VIEW_EXCHANGE,)),
    ("上传数据", "exchange:upload", (Can.UPLOAD_DATA,)),
    ("关联确认", "exchange:review_list", (Can.REVIEW_LINKS,)),
    ("账号管理", "accounts:user_list", (Can.MANAGE_ACCOUNTS, Can.ASSIGN_ROLES)),
    ("群机器人", "notifications:webhook_list", (Can.MANAGE_ACCOUNTS,)),
    ("接口令牌", "exchange:token_list", (Can.MANAGE_TOKENS,)),
    ("机器人主机", "notifications:robot_hosts", (Can.MANAGE_ROBOT_HOSTS,)),
    ("安全审计", "audit:audit_list", (Can.VIEW_AUDIT,)),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {"nav_items": []}
    items = [
        {"label": label, "url": reverse(name), "active": request.path.startswith(reverse(name).rstrip("/"))}
        for label, name, caps in NAVIGATION
        if any(user.can(c) for c in caps)
    ]
    from fangpin.notifications.actions import unread_count

    return {"nav_items": items, "unread_count": unread_count(user)}
