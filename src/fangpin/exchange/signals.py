"""Signals other apps listen to, so that the exchange imports none of them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once an import's transaction has committed with the delivery accepted: kwargs delivery.
delivery_accepted = Signal()
