"""`fangpin keys rotate` / `reencrypt`: a new data key, and every encrypted column rewritten under the
current key (CRY-02, ADR 0023). The blind-index and MAC keys are not rotated here (see the ADR)."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import models, transaction

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.conf import env_str
from fangpin.lib import fieldcrypto
from fangpin.web.fields import EncryptedTextField, keyring

_CHUNK = 5000


@dataclass(frozen=True)
class Rotation:
    key_id: str
    rows: dict[str, int]  # model label → rows rewritten


def encrypted_models() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with encrypted columns, and their names."""
    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found


def rotate() -> Rotation:
    """Add a data key (FANGPIN_FIELD_CIPHER's algorithm) to the key file, make it current, re-encrypt.
    The old keys stay in the file: backups made before still decrypt."""
    if env_str("FANGPIN_FIELD_KEYS"):
        raise fieldcrypto.FieldCryptoError(
            "密钥由环境变量 FANGPIN_FIELD_KEYS 提供，本程序不能改写："
            "请在密钥环中加入新数据密钥并设为 current，重启后运行 fangpin keys reencrypt"
        )
    ring = keyring(reload=True).rotated(settings.FIELD_CIPHER)
    fieldcrypto.save_keyring(settings.FANGPIN_HOME, ring)
    keyring(reload=True)
    return reencrypt()


def reencrypt() -> Rotation:
    """Rewrite every encrypted value under the current key, a chunk per transaction: stopped half-way,
    each value still decrypts (old or new key) and running it again finishes the job."""
    current = keyring(reload=True).current
    rows = {}
    for model, names in encrypted_models():
        pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(pks), _CHUNK):
            with transaction.atomic():
                objs = list(
                    model._default_manager.select_for_update()
                    .filter(pk__in=pks[start : start + _CHUNK])
                    .only("pk", *names)
                )
                model._default_manager.bulk_update(objs, names)  # get_db_prep_value encrypts anew
        rows[model._meta.label] = len(pks)
    record(Event.FIELD_KEYS_ROTATED, data={"key": current, "rows": rows})
    return Rotation(current, rows)
