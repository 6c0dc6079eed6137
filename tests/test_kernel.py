"""One action kernel: one ActionError, one Conflict, one lock for every app."""

from __future__ import annotations

from fangpin import kernel
from fangpin.accounts import actions as accounts
from fangpin.assistance import actions as assistance
from fangpin.cases import actions as cases
from fangpin.exchange import actions as exchange
from fangpin.warnings import actions as warnings


def test_every_app_raises_the_same_conflict() -> None:
    assert cases.Conflict is warnings.Conflict is assistance.Conflict is exchange.Conflict is kernel.Conflict
    assert issubclass(kernel.Conflict, kernel.ActionError)


def test_every_apps_refusal_is_an_action_error() -> None:
    for error in (
        cases.CaseError,
        warnings.LeadError,
        assistance.AssistanceError,
        exchange.ExchangeError,
        accounts.AccountError,
    ):
        assert issubclass(error, kernel.ActionError)


def test_the_default_conflict_message_is_for_the_user() -> None:
    assert "请刷新后重试" in str(kernel.Conflict())


def test_the_locked_models_share_the_versioned_mixin() -> None:
    from fangpin.accounts.models import User
    from fangpin.assistance.models import Discrepancy, Measure, MeasureType
    from fangpin.cases.models import Case
    from fangpin.exchange.models import LinkReview
    from fangpin.warnings.models import Lead

    for model in (Case, Lead, Measure, MeasureType, LinkReview, Discrepancy, User):
        assert issubclass(model, kernel.Versioned)
        assert model._meta.get_field("version").default == 1
