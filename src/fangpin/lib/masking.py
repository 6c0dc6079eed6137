"""Masked display of personal information (SECURITY.md PI-03). Applied on the server, everywhere."""

from __future__ import annotations


def mask_id_number(value: str | None) -> str:
    """360722199001011234 → 360722********1234 (area code and last four stay readable)."""
    if not value:
        return ""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_name(value: str | None) -> str:
    """肖凤香 → 肖*香; 李四 → 李*; 欧阳娜娜 → 欧**娜."""
    if not value:
        return ""
    if len(value) == 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_phone(value: str | None) -> str:
    """13812345678 → 138****5678."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_bank_account(value: str | None) -> str:
    """Only the last four digits."""
    if not value:
        return ""
    return "*" * max(len(value) - 4, 0) + value[-4:]
