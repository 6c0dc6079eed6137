"""Fixtures for the screening tests (helpers in tinylake.py)."""

from __future__ import annotations
