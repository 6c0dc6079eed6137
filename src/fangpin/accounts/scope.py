"""THE place where region scope is applied (SECURITY.md AC-02).

Every view, API endpoint, export and admin page gets its objects from one function here per model.
A user sees only their region's subtree (prefix match on the statistical code) and only the kinds of
data their role may see; an object outside that is answered with 404 and an ACCESS_DENIED audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models
from django.http import Http404

from fangpin.accounts.models import User
from fangpin.accounts.roles import Can, Role
from fangpin.analytics.models import ExportJob, Indicator, RegionalAlert
from fangpin.assistance.models import (
    AssistancePlan,
    Discrepancy,
    Measure,
    MeasureType,
    RosterExport,
    RosterImport,
)
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import AuditEvent, Outcome
from fangpin.cases.models import Case
from fangpin.exchange.models import Delivery, DepartmentToken, LinkReview
from fangpin.notifications.models import Notification, Webhook
from fangpin.privacy.models import ExportRequest
from fangpin.regions.models import Region
from fangpin.registry.models import Household, Person
from fangpin.warnings.models import Lead

M = TypeVar("M", bound=models.Model)


def _prefix(user: Any) -> str | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return str(user.region_id)


def regions(user: User) -> models.QuerySet[Region]:
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_REGIONS):
        return Region.objects.none()
    return Region.objects.filter(prefix__startswith=prefix)


def households(user: User) -> models.QuerySet[Household]:
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_HOUSEHOLDS):
        return Household.objects.none()
    return Household.objects.filter(village__prefix__startswith=prefix)


def persons(user: User) -> models.QuerySet[Person]:
    """Persons who currently belong to a household in scope (past members are seen via the household)."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_HOUSEHOLDS):
        return Person.objects.none()
    return Person.objects.filter(
        memberships__end_date__isnull=True, memberships__household__village__prefix__startswith=prefix
    ).distinct()


def users(user: User) -> models.QuerySet[User]:
    """Accounts an administrator manages: those in their subtree (never their own role changes)."""
    prefix = _prefix(user)
    if prefix is None or not (user.can(Can.MANAGE_ACCOUNTS) or user.can(Can.ASSIGN_ROLES)):
        return User.objects.none()
    return User.objects.filter(region__prefix__startswith=prefix)


def audit_events(user: User) -> models.QuerySet[AuditEvent]:
    """Only the audit administrator reads the log; a county's auditor sees events of its subtree's users
    and anonymous events (failed logins) — a province auditor sees all."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_AUDIT):
        return AuditEvent.objects.none()
    if len(prefix) <= 2:
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(models.Q(actor_region__startswith=prefix) | models.Q(actor_region=""))


def deliveries(user: User) -> models.QuerySet[Delivery]:
    """Delivery records carry counts, not personal data; a data officer sees only their department's."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_EXCHANGE):
        return Delivery.objects.none()
    if user.role == Role.DATA_OFFICER:
        return Delivery.objects.filter(department=user.department)
    return Delivery.objects.all()


def link_reviews(user: User) -> models.QuerySet[LinkReview]:
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.REVIEW_LINKS):
        return LinkReview.objects.none()
    return LinkReview.objects.filter(village__prefix__startswith=prefix)


def department_tokens(user: User) -> models.QuerySet[DepartmentToken]:
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.MANAGE_TOKENS):
        return DepartmentToken.objects.none()
    return DepartmentToken.objects.all()


def leads(user: User) -> models.QuerySet[Lead]:
    """Leads (all three channels) of villages in the user's subtree."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_LEADS):
        return Lead.objects.none()
    return Lead.objects.filter(village__prefix__startswith=prefix)


def notifications(user: User) -> models.QuerySet[Notification]:
    """A user reads only their own inbox, whatever their role."""
    if _prefix(user) is None:
        return Notification.objects.none()
    return Notification.objects.filter(recipient=user)


def cases(user: User) -> models.QuerySet[Case]:
    """Identification and elimination cases of villages in the user's subtree (same people as leads)."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_LEADS):
        return Case.objects.none()
    return Case.objects.filter(village__prefix__startswith=prefix)


def assistance_plans(user: User) -> models.QuerySet[AssistancePlan]:
    """Plans of households in the user's subtree, for the people who see leads and cases."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_LEADS):
        return AssistancePlan.objects.none()
    return AssistancePlan.objects.filter(village__prefix__startswith=prefix)


def measures(user: User) -> models.QuerySet[Measure]:
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_LEADS):
        return Measure.objects.none()
    return Measure.objects.filter(plan__village__prefix__startswith=prefix)


def measure_types(user: User) -> models.QuerySet[MeasureType]:
    """A county's toolbox is read by everyone working in the county and edited by its approvers; users
    above county level see the toolboxes of their counties."""
    prefix = _prefix(user)
    if prefix is None or not (user.can(Can.VIEW_LEADS) or user.can(Can.MANAGE_TOOLBOX)):
        return MeasureType.objects.none()
    if len(prefix) >= 6:
        return MeasureType.objects.filter(county_id=prefix[:6])
    return MeasureType.objects.filter(county__prefix__startswith=prefix)


def roster_exports(user: User) -> models.QuerySet[RosterExport]:
    """An export file is read by the person who asked for it only."""
    if _prefix(user) is None or not user.can(Can.EXPORT_ROSTER):
        return RosterExport.objects.none()
    return RosterExport.objects.filter(requested_by=user)


def roster_imports(user: User) -> models.QuerySet[RosterImport]:
    """Imports of a county's 监测对象台账: its county approvers (and the approvers above it)."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.COUNTY_APPROVE):
        return RosterImport.objects.none()
    return RosterImport.objects.filter(county__prefix__startswith=prefix[:6])


def discrepancies(user: User) -> models.QuerySet[Discrepancy]:
    """Roster-vs-cases discrepancies of households in the user's subtree, for those who see cases."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_LEADS):
        return Discrepancy.objects.none()
    return Discrepancy.objects.filter(village__prefix__startswith=prefix)


def indicators(user: User) -> models.QuerySet[Indicator]:
    """Pre-aggregated indicators of the user's subtree (never the areas above: those mix in other areas)."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_ANALYTICS):
        return Indicator.objects.none()
    return Indicator.objects.filter(region__startswith=prefix)


def regional_alerts(user: User) -> models.QuerySet[RegionalAlert]:
    """Regional-risk alerts centred in the user's subtree, or of counties inside it."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.VIEW_ANALYTICS):
        return RegionalAlert.objects.none()
    return RegionalAlert.objects.filter(
        models.Q(centre__startswith=prefix) | models.Q(county__startswith=prefix)
    )


def export_jobs(user: User) -> models.QuerySet[ExportJob]:
    """An analytics export is read by the person who asked for it only."""
    if _prefix(user) is None or not user.can(Can.VIEW_ANALYTICS):
        return ExportJob.objects.none()
    return ExportJob.objects.filter(user=user)


def webhooks(user: User) -> models.QuerySet[Webhook]:
    """Group robots are configured by the system administrator of the region (or above)."""
    prefix = _prefix(user)
    if prefix is None or not user.can(Can.MANAGE_ACCOUNTS):
        return Webhook.objects.none()
    return Webhook.objects.filter(region__prefix__startswith=prefix)


def export_requests(user: User) -> models.QuerySet[ExportRequest]:
    """A bulk-export request is seen by its requester and by those who may approve it: holders of full
    personal information (REVEAL_PI) whose region contains the request's."""
    prefix = _prefix(user)
    if prefix is None or not (user.can(Can.EXPORT_ROSTER) or user.can(Can.VIEW_ANALYTICS)):
        return ExportRequest.objects.none()
    mine = models.Q(requested_by=user)
    if user.can(Can.REVEAL_PI):
        return ExportRequest.objects.filter(mine | models.Q(region__prefix__startswith=prefix))
    return ExportRequest.objects.filter(mine)


SCOPES: dict[type[models.Model], Callable[[User], models.QuerySet[Any]]] = {
    Region: regions,
    Household: households,
    Person: persons,
    User: users,
    AuditEvent: audit_events,
    Delivery: deliveries,
    LinkReview: link_reviews,
    DepartmentToken: department_tokens,
    Lead: leads,
    Case: cases,
    Notification: notifications,
    Webhook: webhooks,
    AssistancePlan: assistance_plans,
    Measure: measures,
    MeasureType: measure_types,
    RosterExport: roster_exports,
    RosterImport: roster_imports,
    Discrepancy: discrepancies,
    Indicator: indicators,
    RegionalAlert: regional_alerts,
    ExportJob: export_jobs,
    ExportRequest: export_requests,
}


def get_or_404(user: User, model: type[M], **lookup: Any) -> M:
    """The object if it is in the user's scope; otherwise 404, and the denial is audited."""
    found: M | None = SCOPES[model](user).filter(**lookup).first()
    if found is None:
        record(
            Event.ACCESS_DENIED,
            actor=user,
            outcome=Outcome.DENIED,
            object_type=model._meta.model_name or "",
            object_id=str(next(iter(lookup.values()), "")),
            reason="out_of_scope_or_missing",
        )
        raise Http404("未找到，或不在您的管辖范围内")
    return found
