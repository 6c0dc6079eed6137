"""Text that people type: what may not be in it. (Django-free.)"""

from __future__ import annotations

import unicodedata


def control_characters(value: str) -> list[str]:
    """The control and format characters in a value, as U+XXXX: NUL, line breaks, tabs, right-to-left
    overrides and zero-width marks. None belongs in a name, and a bidi override makes a name display
    as something else (#14: "U+202E" turns "gpj.exe" into what looks like "exe.jpg")."""
    return sorted({f"U+{ord(ch):04X}" for ch in value if unicodedata.category(ch) in ("Cc", "Cf")})
