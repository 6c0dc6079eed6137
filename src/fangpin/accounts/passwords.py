"""Password rules beyond Django's own (SECURITY.md AUTH-02; the 等保 composition rule is configurable)."""

from __future__ import annotations

import re
import string
from typing import Any

from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError

from fangpin.accounts.models import PasswordHistory


class CharacterClassValidator:
    """At least `min_classes` of: upper case, lower case, digits, symbols."""

    def __init__(self, min_classes: int = 3) -> None:
        self.min_classes = min_classes

    def validate(self, password: str, user: Any = None) -> None:
        classes = [
            any(c.isupper() for c in password),
            any(c.islower() for c in password),
            any(c.isdigit() for c in password),
            any(c in string.punctuation or not c.isalnum() for c in password),
        ]
        if sum(classes) < self.min_classes:
            raise ValidationError(
                f"密码须包含大写字母、小写字母、数字、符号中的至少{self.min_classes}类。",
                code="password_too_simple",
            )

    def get_help_text(self) -> str:
        return f"密码须包含大写字母、小写字母、数字、符号中的至少{self.min_classes}类。"


class ContainsUsernameValidator:
    def validate(self, password: str, user: Any = None) -> None:
        username = getattr(user, "username", "") or ""
        if len(username) >= 3 and username.lower() in password.lower():
            raise ValidationError("密码不能包含用户名。", code="password_contains_username")

    def get_help_text(self) -> str:
        return "密码不能包含用户名。"


# Leetspeak substitutions undone; "1" is tried as both "i" and "l".
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")  # digits and symbols around the word ("Password123!")
_MIN_CORE = 4  # a shorter core is mostly digits and symbols, not a dictionary word in disguise


def _normal_forms(password: str) -> set[str]:
    lower = password.lower()
    cores = {_EDGES.sub("", lower), _EDGES.sub("", lower.translate(_LEET))}
    cores |= {core.translate(_LEET) for core in cores}
    cores |= {core.replace("i", "l") for core in cores if "1" in lower}
    return {lower} | {core for core in cores if len(core) >= _MIN_CORE}


class NormalisedCommonPasswordValidator(CommonPasswordValidator):
    """Django's list of 20,000 common passwords, also matched after lower-casing, stripping the digits and
    symbols around the word and undoing leetspeak: `Password123!` and `P@ssw0rd2026!` are `password`."""

    def validate(self, password: str, user: Any = None) -> None:
        if _normal_forms(password) & self.passwords:
            raise ValidationError(self.get_error_message(), code="password_too_common")

    def get_error_message(self) -> str:
        return "密码过于常见（去掉前后的数字、符号和字母替换后仍是常见密码）。"

    def get_help_text(self) -> str:
        return "不能使用常见密码，加数字、符号或把字母换成数字（如 P@ssw0rd）也不行。"


class PasswordHistoryValidator:
    """None of the user's last `count` passwords (the current one and the initial one count)."""

    def __init__(self, count: int = 5) -> None:
        self.count = count

    def _message(self) -> str:
        return f"新密码不能与最近{self.count}次使用过的密码相同。"

    def validate(self, password: str, user: Any = None) -> None:
        if self.count <= 0 or getattr(user, "pk", None) is None:
            return
        hashes = list(
            PasswordHistory.objects.filter(user=user).values_list("password", flat=True)[: self.count]
        )
        if user.password and user.password not in hashes:  # accounts older than the history
            hashes.append(user.password)
        if any(check_password(password, encoded) for encoded in hashes):
            raise ValidationError(self._message(), code="password_reused")

    def password_changed(self, password: str, user: Any = None) -> None:
        """Called by Django after a new password is saved, inside the caller's transaction."""
        if self.count <= 0 or getattr(user, "pk", None) is None:
            return
        PasswordHistory.objects.create(user=user, password=user.password)
        older = PasswordHistory.objects.filter(user=user).values_list("id", flat=True)[self.count :]
        PasswordHistory.objects.filter(id__in=list(older)).delete()

    def get_help_text(self) -> str:
        return self._message()
