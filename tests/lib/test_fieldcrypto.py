"""Field-level encryption, blind indexes and MACs without Django (SECURITY.md CRY-02/03, ADR 0023)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fangpin.lib import fieldcrypto
from fangpin.lib.fieldcrypto import FieldCryptoError, Keyring, load_keyring

ID = "360722198005170011"
CONTEXT = "registry_person.id_number"


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "sm4-gcm"])
def test_a_value_round_trips_and_equal_values_encrypt_differently(cipher: str) -> None:
    ring = fieldcrypto.new_keyring(cipher)
    first, second = fieldcrypto.encrypt(ring, ID, CONTEXT), fieldcrypto.encrypt(ring, ID, CONTEXT)
    assert first != second and ID not in first
    assert first.startswith("1:")  # the key id travels with the ciphertext
    assert fieldcrypto.decrypt(ring, first, CONTEXT) == fieldcrypto.decrypt(ring, second, CONTEXT) == ID


def test_sm4_is_the_standard_block_cipher_of_gb_t_32907() -> None:
    # GB/T 32907-2016 appendix A, example 1: key = plaintext = 0123456789abcdeffedcba9876543210
    block = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(block), modes.ECB()).encryptor()  # noqa: S305 - one block: the test vector
    assert (enc.update(block) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_a_ciphertext_moved_to_another_column_or_altered_does_not_decrypt() -> None:
    ring = fieldcrypto.new_keyring("aes-256-gcm")
    stored = fieldcrypto.encrypt(ring, ID, CONTEXT)
    with pytest.raises(FieldCryptoError, match="无法解密"):
        fieldcrypto.decrypt(ring, stored, "warnings_declaration.phone")
    body = stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB")
    with pytest.raises(FieldCryptoError, match="被改动或密钥不符"):
        fieldcrypto.decrypt(ring, body, CONTEXT)
    with pytest.raises(FieldCryptoError, match="没有编号为 '9' 的字段加密密钥"):
        fieldcrypto.decrypt(ring, "9" + stored[1:], CONTEXT)


def test_after_rotation_old_values_still_decrypt_and_new_ones_use_the_new_key() -> None:
    ring = fieldcrypto.new_keyring("aes-256-gcm")
    old = fieldcrypto.encrypt(ring, ID, CONTEXT)
    rotated = ring.rotated("sm4-gcm")
    new = fieldcrypto.encrypt(rotated, ID, CONTEXT)
    assert rotated.current == "2" and new.startswith("2:") and rotated.data["2"].alg == "sm4-gcm"
    assert fieldcrypto.decrypt(rotated, old, CONTEXT) == fieldcrypto.decrypt(rotated, new, CONTEXT) == ID
    assert rotated.index == ring.index  # the blind index does not change: lookups keep working


def test_the_blind_index_is_keyed_deterministic_and_separated_by_purpose() -> None:
    ring, other = fieldcrypto.new_keyring("aes-256-gcm"), fieldcrypto.new_keyring("aes-256-gcm")
    index = fieldcrypto.blind_index(ring, ID, "id_number")
    assert index == fieldcrypto.blind_index(ring, ID, "id_number") and len(index) == 32
    assert index != fieldcrypto.blind_index(other, ID, "id_number")  # without the key it cannot be rebuilt
    assert index != fieldcrypto.blind_index(ring, ID, "phone")
    sm3 = fieldcrypto.new_keyring("sm4-gcm")
    assert sm3.index.alg == "hmac-sm3" and len(fieldcrypto.blind_index(sm3, ID, "id_number")) == 32


def test_a_mac_fails_on_changed_content_or_a_foreign_key() -> None:
    ring = fieldcrypto.new_keyring("aes-256-gcm")
    sealed = fieldcrypto.mac(ring, b'{"actor":1}')
    assert fieldcrypto.mac_matches(ring, b'{"actor":1}', sealed)
    assert not fieldcrypto.mac_matches(ring, b'{"actor":2}', sealed)
    assert not fieldcrypto.mac_matches(fieldcrypto.new_keyring("aes-256-gcm"), b'{"actor":1}', sealed)


def test_the_key_file_is_created_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    ring = load_keyring(tmp_path, "aes-256-gcm")
    path = tmp_path / fieldcrypto.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(tmp_path, "sm4-gcm") == ring  # read back, never replaced
    fieldcrypto.save_keyring(tmp_path, ring.rotated("aes-256-gcm"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(tmp_path, "aes-256-gcm").current == "2"


def test_a_keyring_from_the_environment_wins_and_a_broken_one_is_a_clear_error(tmp_path: Path) -> None:
    ring = fieldcrypto.new_keyring("sm4-gcm")
    assert load_keyring(tmp_path, "aes-256-gcm", ring.to_json()) == ring
    assert not (tmp_path / fieldcrypto.KEY_FILE).exists()
    with pytest.raises(FieldCryptoError, match="密钥文件格式错误"):
        Keyring.from_json('{"current": "1"}')
    with pytest.raises(FieldCryptoError, match="没有当前密钥"):
        Keyring.from_json(ring.to_json().replace('"current": "1"', '"current": "7"'))
