"""Typed, fail-loud readers of environment variables (Django-free, shared by settings and the CLI)."""

from __future__ import annotations

import os
import secrets
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


def field_cipher() -> str:
    """FANGPIN_FIELD_CIPHER: the cipher of new field-encryption keys (ADR 0023)."""
    value = env_str("FANGPIN_FIELD_CIPHER", "aes-256-gcm").strip().lower()
    if value not in ("aes-256-gcm", "sm4-gcm"):
        raise ConfigError(f"FANGPIN_FIELD_CIPHER={value!r}: use aes-256-gcm or sm4-gcm")
    return value


def secret_key(home: Path) -> str:
    """FANGPIN_SECRET_KEY, else a random key created once under FANGPIN_HOME (never a constant)."""
    configured = env_str("FANGPIN_SECRET_KEY")
    if configured:
        return configured
    key_file = home / "secret_key"
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key, encoding="utf-8")
    key_file.chmod(0o600)
    return key
