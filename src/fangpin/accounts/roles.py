"""Roles, the region level each role sits at, and what each role may do.

One role per user. The three administrators (三员分立: system, security, audit) are separate roles, so
no account can hold two of them, and none of them sees business data.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    GRID_WORKER = "grid_worker", "网格员"
    VILLAGE_CADRE = "village_cadre", "村干部"
    TOWNSHIP_REVIEWER = "township_reviewer", "乡镇审核员"
    COUNTY_APPROVER = "county_approver", "县级审批员"
    DATA_OFFICER = "data_officer", "部门数据专员"
    ANALYST = "analyst", "分析员"
    SYSTEM_ADMIN = "system_admin", "系统管理员"
    SECURITY_ADMIN = "security_admin", "安全管理员"
    AUDIT_ADMIN = "audit_admin", "审计管理员"


class Can(StrEnum):
    VIEW_HOUSEHOLDS = "view_households"
    REVEAL_PI = "reveal_pi"
    MANAGE_GRIDS = "manage_grids"
    VIEW_REGIONS = "view_regions"
    MANAGE_ACCOUNTS = "manage_accounts"  # create, deactivate, unlock, reset password (系统管理员)
    ASSIGN_ROLES = "assign_roles"  # role, region, second factor reset (安全管理员)
    VIEW_AUDIT = "view_audit"  # read and export the audit log (审计管理员)
    VIEW_EXCHANGE = "view_exchange"  # deliveries, reports, data quality (a data officer: own department)
    UPLOAD_DATA = "upload_data"  # deliver a dataset file (部门数据专员)
    REVIEW_LINKS = "review_links"  # decide uncertain record links
    MANAGE_TOKENS = "manage_tokens"  # push-API credentials of the departments (安全管理员)
    MANAGE_ROBOT_HOSTS = "manage_robot_hosts"  # the hosts group robots may call (安全管理员, SSRF)
    # monitoring and assistance (issues #5-#7)
    VIEW_LEADS = "view_leads"  # warnings, leads and cases of the region
    REPORT_LEAD = "report_lead"  # enter a lead found in the field (干部排查) or on a farmer's behalf
    DISPATCH_LEADS = "dispatch_leads"  # accept leads and assign them to a village / grid worker
    VERIFY_HOUSEHOLD = "verify_household"  # 入户核实: the visit form
    VILLAGE_REVIEW = "village_review"  # 村级民主评议 and 村内公示
    TOWNSHIP_REVIEW = "township_review"  # 乡镇审核
    COUNTY_APPROVE = "county_approve"  # 县级审批
    MANAGE_ASSISTANCE = "manage_assistance"  # assistance plans, measures, follow-up visits
    MANAGE_TOOLBOX = "manage_toolbox"  # the county's policy toolbox and deadline settings
    VIEW_ANALYTICS = "view_analytics"  # dashboards, indicators, regional-scale risk alerts, reports
    EXPORT_ROSTER = "export_roster"  # monitoring roster (台账) exports


ADMIN_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})
FIELD_ROLES = frozenset(
    {Role.GRID_WORKER, Role.VILLAGE_CADRE, Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER, Role.ANALYST}
)

CAPABILITIES: dict[str, frozenset[Can]] = {
    Role.GRID_WORKER: frozenset(
        {Can.VIEW_HOUSEHOLDS, Can.VIEW_REGIONS, Can.VIEW_LEADS, Can.REPORT_LEAD, Can.VERIFY_HOUSEHOLD}
    ),
    Role.VILLAGE_CADRE: frozenset(
        {
            Can.VIEW_HOUSEHOLDS,
            Can.VIEW_REGIONS,
            Can.MANAGE_GRIDS,
            Can.VIEW_LEADS,
            Can.REPORT_LEAD,
            Can.VERIFY_HOUSEHOLD,
            Can.VILLAGE_REVIEW,
            Can.MANAGE_ASSISTANCE,
        }
    ),
    Role.TOWNSHIP_REVIEWER: frozenset(
        {
            Can.VIEW_HOUSEHOLDS,
            Can.VIEW_REGIONS,
            Can.MANAGE_GRIDS,
            Can.REVEAL_PI,
            Can.REVIEW_LINKS,
            Can.VIEW_LEADS,
            Can.REPORT_LEAD,
            Can.DISPATCH_LEADS,
            Can.TOWNSHIP_REVIEW,
            Can.MANAGE_ASSISTANCE,
            Can.VIEW_ANALYTICS,
            Can.EXPORT_ROSTER,
        }
    ),
    Role.COUNTY_APPROVER: frozenset(
        {
            Can.VIEW_HOUSEHOLDS,
            Can.VIEW_REGIONS,
            Can.REVEAL_PI,
            Can.REVIEW_LINKS,
            Can.VIEW_EXCHANGE,
            Can.VIEW_LEADS,
            Can.DISPATCH_LEADS,
            Can.COUNTY_APPROVE,
            Can.MANAGE_ASSISTANCE,
            Can.MANAGE_TOOLBOX,
            Can.VIEW_ANALYTICS,
            Can.EXPORT_ROSTER,
        }
    ),
    Role.ANALYST: frozenset(
        {
            Can.VIEW_HOUSEHOLDS,
            Can.VIEW_REGIONS,
            Can.VIEW_EXCHANGE,
            Can.VIEW_LEADS,
            Can.VIEW_ANALYTICS,
            Can.EXPORT_ROSTER,
        }
    ),
    Role.DATA_OFFICER: frozenset({Can.VIEW_REGIONS, Can.VIEW_EXCHANGE, Can.UPLOAD_DATA}),
    Role.SYSTEM_ADMIN: frozenset({Can.MANAGE_ACCOUNTS, Can.VIEW_REGIONS}),
    Role.SECURITY_ADMIN: frozenset(
        {Can.ASSIGN_ROLES, Can.VIEW_REGIONS, Can.MANAGE_TOKENS, Can.MANAGE_ROBOT_HOSTS}
    ),
    Role.AUDIT_ADMIN: frozenset({Can.VIEW_AUDIT}),
}

# The region levels a role may be assigned to.
ROLE_LEVELS: dict[str, frozenset[str]] = {
    Role.GRID_WORKER: frozenset({"village", "grid"}),
    Role.VILLAGE_CADRE: frozenset({"village"}),
    Role.TOWNSHIP_REVIEWER: frozenset({"township"}),
    Role.COUNTY_APPROVER: frozenset({"county"}),
    Role.DATA_OFFICER: frozenset({"province", "city", "county"}),
    Role.ANALYST: frozenset({"province", "city", "county", "township"}),
    Role.SYSTEM_ADMIN: frozenset({"province", "city", "county"}),
    Role.SECURITY_ADMIN: frozenset({"province", "city", "county"}),
    Role.AUDIT_ADMIN: frozenset({"province", "city", "county"}),
}

DEPARTMENTS: dict[str, str] = {
    "public_security": "公安",
    "medical_security": "医保",
    "health": "卫健",
    "civil_affairs": "民政",
    "disabled_federation": "残联",
    "education": "教育",
    "human_resources": "人社",
    "housing": "住建",
    "water": "水利",
    "emergency": "应急管理",
    "agriculture": "农业农村",
    "natural_resources": "自然资源",
    "market_regulation": "市场监管",
    "financial": "金融机构",
}


def can(role: str, capability: Can) -> bool:
    return capability in CAPABILITIES.get(role, frozenset())
