from typing import Any

from django.apps import AppConfig


class AssistanceConfig(AppConfig):
    name = "fangpin.assistance"
    verbose_name = "帮扶措施"

    def ready(self) -> None:
        from fangpin.exchange.signals import delivery_accepted

        delivery_accepted.connect(_reconcile_roster, dispatch_uid="assistance-roster-reconcile")


def _reconcile_roster(sender: Any, *, delivery: Any, **_: Any) -> None:
    """Each accepted ag_roster delivery is reconciled against the cases (docs/onboarding.md)."""
    if delivery.dataset == "ag_roster":
        from fangpin.assistance.reconcile import after_roster_delivery

        after_roster_delivery(delivery.period)
