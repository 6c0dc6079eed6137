"""Typed, fail-loud readers of environment variables (Django-free, shared by settings and the CLI)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


class ConfigError(ValueError):
    """A configuration value is present but unusable; the message says which and why."""


def env_str(name: str, default: str = "") -> str:
    # NAME_FILE lets a secret be mounted as a file instead of an environment variable.
    file_path = os.getenv(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text(encoding="utf-8").strip()
    return os.getenv(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.getenv(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: use true or false")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.getenv(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value}: must be at least {minimum}")
    return value


def fangpin_home() -> Path:
    """Where all state lives: database, lake, uploads, secret key. Default ./var."""
    return Path(os.getenv("FANGPIN_HOME", "var")).expanduser().resolve()


def _key_file(path: Path, make: Callable[[], str]) -> str:
    """The key stored in `path`, created once (mode 0600 from the first byte, never a constant)."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def field_cipher() -> str:
    """FANGPIN_FIELD_CIPHER: the cipher of new field-encryption keys (ADR 0023)."""
    value = env_str("FANGPIN_FIELD_CIPHER", "aes-256-gcm").strip().lower()
    if value not in ("aes-256-gcm", "sm4-gcm"):
        raise ConfigError(f"FANGPIN_FIELD_CIPHER={value!r}: use aes-256-gcm or sm4-gcm")
    return value


def secret_key(home: Path) -> str:
    """FANGPIN_SECRET_KEY, else a random key created once under FANGPIN_HOME (never a constant)."""
    return env_str("FANGPIN_SECRET_KEY") or _key_file(home / "secret_key", lambda: secrets.token_urlsafe(50))


def audit_key(home: Path) -> bytes:
    """The audit chain's HMAC key: FANGPIN_AUDIT_KEY (or _FILE), else FANGPIN_HOME/audit_key. It lives
    outside the database, so write access to the database alone cannot recompute the chain."""
    key = env_str("FANGPIN_AUDIT_KEY") or _key_file(home / "audit_key", lambda: secrets.token_hex(32))
    if len(key) < 32:
        raise ConfigError("FANGPIN_AUDIT_KEY: at least 32 characters (e.g. `openssl rand -hex 32`)")
    return key.encode("utf-8")
