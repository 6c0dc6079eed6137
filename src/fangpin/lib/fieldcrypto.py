"""Field-level encryption, blind indexes and record MACs (SECURITY.md CRY-02/03, ADR 0023). Django-free.

Three independent keys, all outside the database: data keys (AES-256-GCM or SM4-GCM, each with an id
written in front of every ciphertext so keys can rotate), one blind-index key (HMAC, truncated to 128
bits: equality lookups without decrypting) and one MAC key (HMAC over a record's canonical content).
The keyring is JSON, from FANGPIN_FIELD_KEYS (or FANGPIN_FIELD_KEYS_FILE) or else a file under
FANGPIN_HOME created 0600 on first use, like the secret key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CIPHERS = {"aes-256-gcm": 32, "sm4-gcm": 16}  # name → key bytes
# the HMAC each cipher is paired with: SM4 deployments (密评) use SM3 throughout
HMAC_FOR = {"aes-256-gcm": "hmac-sha256", "sm4-gcm": "hmac-sm3"}
KEY_FILE = "field_keys.json"
NONCE_BYTES = 12
INDEX_BYTES = 16  # 128 bits: no collision among a province's IDs, so the index can be unique


class FieldCryptoError(ValueError):
    """A value cannot be decrypted or a keyring is unusable; the message says which (Chinese)."""


@dataclass(frozen=True)
class Key:
    id: str
    alg: str
    secret: bytes


@dataclass(frozen=True)
class Keyring:
    data: dict[str, Key]
    current: str  # the data key new values are encrypted with
    index: Key
    mac: Key

    def to_json(self) -> str:
        def one(k: Key) -> dict[str, str]:
            return {"id": k.id, "alg": k.alg, "key": base64.b64encode(k.secret).decode()}

        return json.dumps(
            {
                "current": self.current,
                "data": [one(k) for k in self.data.values()],
                "index": one(self.index),
                "mac": one(self.mac),
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            raw = json.loads(text)
            data = {d["id"]: _key(d) for d in raw["data"]}
            ring = cls(data=data, current=raw["current"], index=_key(raw["index"]), mac=_key(raw["mac"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise FieldCryptoError(f"字段加密密钥文件格式错误：{exc}") from None
        if ring.current not in ring.data:
            raise FieldCryptoError(f"字段加密密钥文件中没有当前密钥 {ring.current}")
        return ring

    def rotated(self, alg: str) -> Keyring:
        """A new current data key (old ones kept: existing ciphertext and backups still decrypt)."""
        number = 1 + max((int(k) for k in self.data if k.isdigit()), default=0)
        key = new_key(str(number), alg)
        return replace(self, data={**self.data, key.id: key}, current=key.id)


def _key(raw: dict[str, str]) -> Key:
    key = Key(id=str(raw["id"]), alg=raw["alg"], secret=base64.b64decode(raw["key"], validate=True))
    if key.alg in CIPHERS and len(key.secret) != CIPHERS[key.alg]:
        raise ValueError(f"密钥 {key.id} 长度不符合 {key.alg}")
    if key.alg not in CIPHERS and key.alg not in HMAC_FOR.values():
        raise ValueError(f"不支持的算法 {key.alg}")
    return key


def new_key(key_id: str, alg: str) -> Key:
    return Key(key_id, alg, secrets.token_bytes(CIPHERS.get(alg, 32)))


def new_keyring(cipher: str) -> Keyring:
    mac = HMAC_FOR[cipher]
    return Keyring(
        data={"1": new_key("1", cipher)}, current="1", index=new_key("i1", mac), mac=new_key("m1", mac)
    )


def load_keyring(home: Path, cipher: str, configured: str = "") -> Keyring:
    """`configured`: the keyring JSON from the environment; else FANGPIN_HOME/field_keys.json, created
    0600 (exclusively: two processes starting at once end with one keyring) with `cipher` if absent."""
    if configured:
        return Keyring.from_json(configured)
    path = home / KEY_FILE
    try:
        return Keyring.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return Keyring.from_json(path.read_text(encoding="utf-8"))
    ring = new_keyring(cipher)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(ring.to_json())
    return ring


def save_keyring(home: Path, ring: Keyring) -> None:
    """Replace the key file atomically, 0600 from the start."""
    path = home / KEY_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(ring.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


# --- encryption ------------------------------------------------------------------------------------


def encrypt(ring: Keyring, plaintext: str, context: str) -> str:
    """`key id:base64(nonce|ciphertext|tag)`; `context` (table.column) is authenticated, so a value
    copied into another column does not decrypt."""
    key = ring.data[ring.current]
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = _seal(key, nonce, plaintext.encode(), context.encode())
    return f"{key.id}:{base64.b64encode(nonce + sealed).decode()}"


def encrypt_many(ring: Keyring, values: Iterable[str | None], context: str) -> list[str | None]:
    """A column at once (bulk writers that bypass the ORM: COPY, raw INSERT)."""
    return [None if v is None else encrypt(ring, v, context) for v in values]


def decrypt(ring: Keyring, stored: str, context: str) -> str:
    key_id, _, body = stored.partition(":")
    key = ring.data.get(key_id)
    if key is None:
        raise FieldCryptoError(f"没有编号为 {key_id!r} 的字段加密密钥，无法解密 {context}")
    try:
        raw = base64.b64decode(body, validate=True)
        return _open(key, raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
    except (InvalidTag, ValueError):
        raise FieldCryptoError(f"{context} 的密文无法解密（被改动或密钥不符）") from None


def key_id_of(stored: str) -> str:
    return stored.partition(":")[0]


@lru_cache(maxsize=32)
def _aesgcm(secret: bytes) -> AESGCM:
    return AESGCM(secret)  # built once per key: the constructor costs more than sealing an ID


def _seal(key: Key, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    if key.alg == "aes-256-gcm":
        return _aesgcm(key.secret).encrypt(nonce, data, aad)
    enc = Cipher(algorithms.SM4(key.secret), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(data) + enc.finalize() + enc.tag


def _open(key: Key, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if key.alg == "aes-256-gcm":
        return _aesgcm(key.secret).decrypt(nonce, sealed, aad)
    body, tag = sealed[:-16], sealed[-16:]
    dec = Cipher(algorithms.SM4(key.secret), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(body) + dec.finalize()


# --- blind index and MAC -------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _keyed(alg: str, secret: bytes) -> Any:
    """An HMAC with the key already absorbed; each message hashes a copy (half the cost of a new one)."""
    if alg == "hmac-sha256":
        return hmac.new(secret, digestmod=hashlib.sha256)
    return crypto_hmac.HMAC(secret, hashes.SM3())


def _hmac(key: Key, message: bytes) -> bytes:
    mac = _keyed(key.alg, key.secret).copy()
    mac.update(message)
    return mac.digest() if key.alg == "hmac-sha256" else mac.finalize()  # type: ignore[no-any-return]


def blind_index(ring: Keyring, value: str, purpose: str) -> str:
    """The keyed hash equal values share (hex, 128 bits). `purpose` (e.g. "id_number", "id_number[:14]")
    separates indexes of different kinds; the same kind matches across tables."""
    return _hmac(ring.index, f"{purpose}\x00{value}".encode())[:INDEX_BYTES].hex()


def index_many(ring: Keyring, values: Sequence[str | None], purpose: str) -> list[str | None]:
    return [None if v is None else blind_index(ring, v, purpose) for v in values]


def mac(ring: Keyring, canonical: bytes) -> str:
    return f"{ring.mac.id}:{_hmac(ring.mac, canonical).hex()}"


def mac_matches(ring: Keyring, canonical: bytes, stored: str) -> bool:
    key_id, _, _ = stored.partition(":")
    if key_id != ring.mac.id:  # a MAC key is never rotated silently: an unknown id is a forged row
        return False
    return hmac.compare_digest(mac(ring, canonical), stored)
