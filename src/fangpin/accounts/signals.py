"""Signals other apps listen to, so that accounts depends on none of them (notifications tells the
person; see notifications/receivers.py)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction of a change to someone's credentials (second factor bound, re-bound or
# reset, password reset by an administrator): kwargs user, event (the audit event type), actor.
account_security_changed = Signal()
