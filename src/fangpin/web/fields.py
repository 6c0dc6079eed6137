"""Encrypted model fields with a blind index, and a record MAC (SECURITY.md CRY-02/03, ADR 0023).

A model declares the pair once::

    id_number = EncryptedTextField("公民身份号码", index="id_number_index")
    id_number_index = BlindIndexField(of="id_number", unique=True)

The column holds `key id:ciphertext`; `filter(id_number=x)` and `filter(id_number__in=xs)` run on the
index column (the keyed hash of x); any other lookup on the encrypted column (startswith, gte, …) is
refused, since it would silently compare ciphertext. Writers through the ORM (save, create,
bulk_create, bulk_update, update) encrypt and index by themselves; a writer that bypasses the ORM calls
`encrypt_column` and `index_column`, a reader that bypasses it `decrypt_column`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Col
from django.db.models.lookups import Exact, In

from fangpin.conf import env_str
from fangpin.lib import fieldcrypto
from fangpin.lib.fieldcrypto import Keyring

_ring: Keyring | None = None


def keyring(*, reload: bool = False) -> Keyring:
    """The process's keyring, read once (again when a value names a key this process has not seen:
    another process rotated)."""
    global _ring
    if _ring is None or reload:
        _ring = fieldcrypto.load_keyring(
            settings.FANGPIN_HOME, settings.FIELD_CIPHER, env_str("FANGPIN_FIELD_KEYS")
        )
    return _ring


def decrypt(stored: str, context: str) -> str:
    ring = keyring()
    if fieldcrypto.key_id_of(stored) not in ring.data:
        ring = keyring(reload=True)
    return fieldcrypto.decrypt(ring, stored, context)


def context_of(model: type[models.Model], field_name: str) -> str:
    """What each ciphertext of this column is bound to (table.column)."""
    meta = model._meta
    return f"{meta.db_table}.{meta.get_field(field_name).column}"  # type: ignore[union-attr]


def encrypt_column(
    model: type[models.Model], field_name: str, values: Iterable[str | None]
) -> list[str | None]:
    """The stored form of a column of plaintexts, for bulk writers that bypass the ORM."""
    return fieldcrypto.encrypt_many(keyring(), values, context_of(model, field_name))


def decrypt_column(
    model: type[models.Model], field_name: str, stored: Iterable[str | None]
) -> list[str | None]:
    """The plaintexts of a column read without the ORM (raw SQL, COPY TO, a DuckDB scan of the table)."""
    context = context_of(model, field_name)
    return [None if v is None else decrypt(v, context) for v in stored]


def index_column(
    model: type[models.Model], field_name: str, values: Sequence[str | None]
) -> list[str | None]:
    """The blind index values of `field_name` (a BlindIndexField) for these plaintexts."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, BlindIndexField)
    return [None if v is None else field.index_of(v) for v in values]


def stored_columns(model: type[models.Model], columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Columns as a bulk writer that bypasses the ORM must store them: each encrypted field's values
    encrypted and every blind index over it added (what save() does row by row)."""
    out = dict(columns)
    for field in model._meta.concrete_fields:
        if isinstance(field, BlindIndexField) and field.of in columns:
            out[field.name] = [
                None if v is None else field.index_of(str(v)[: field.prefix]) for v in columns[field.of]
            ]
    for name, values in columns.items():
        if isinstance(model._meta.get_field(name), EncryptedTextField):
            out[name] = encrypt_column(model, name, values)
    return out


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    def __init__(self, *args: Any, index: str = "", **kwargs: Any) -> None:
        self.index = index  # the BlindIndexField that serves equality lookups ("" = none)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.index:
            kwargs["index"] = self.index
        return name, path, args, kwargs

    def context(self) -> str:
        if not hasattr(self, "_context"):  # the model is known only after contribute_to_class
            self._context = f"{self.model._meta.db_table}.{self.column}"
        return self._context

    def from_db_value(
        self, value: str | None, expression: Any, connection: BaseDatabaseWrapper
    ) -> str | None:
        return None if value is None else decrypt(value, self.context())

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        # saves, updates and bulk_update's CASE all come here; lookups never do (they go to the index)
        value = self.get_prep_value(value)
        return None if value is None else fieldcrypto.encrypt(keyring(), value, self.context())

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if self.index and lookup_name in ("exact", "in"):
            return _IndexExact if lookup_name == "exact" else _IndexIn
        raise FieldError(f"加密字段 {self.name} 只支持等值查找（exact/in），不支持 {lookup_name}")

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(f"加密字段 {self.name} 不支持 {lookup_name}")


class BlindIndexField(models.CharField):  # type: ignore[type-arg]
    """The keyed hash of another field's plaintext (or of its first `prefix` characters), set on save."""

    def __init__(self, *args: Any, of: str, prefix: int | None = None, **kwargs: Any) -> None:
        self.of, self.prefix = of, prefix
        self._purpose = of if prefix is None else f"{of}[:{prefix}]"
        kwargs.setdefault("max_length", 2 * fieldcrypto.INDEX_BYTES)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["of"] = self.of
        if self.prefix is not None:
            kwargs["prefix"] = self.prefix
        if kwargs.get("max_length") == 2 * fieldcrypto.INDEX_BYTES:
            del kwargs["max_length"]
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def index_of(self, plaintext: str) -> str:
        """The index of a plaintext (of the whole value: `prefix` is the caller's to cut)."""
        return fieldcrypto.blind_index(keyring(), plaintext, self._purpose)

    def pre_save(self, model_instance: models.Model, add: bool) -> str | None:
        plain = getattr(model_instance, self.of)
        value = None if plain is None else self.index_of(str(plain)[: self.prefix])
        setattr(model_instance, self.attname, value)
        return value


def with_indexes(model: type[models.Model], values: dict[str, Any]) -> dict[str, Any]:
    """`values` for QuerySet.update() plus the blind index of each encrypted field in it: update()
    bypasses pre_save, so without this an index would keep finding the old value."""
    out = dict(values)
    for name, value in values.items():
        field = model._meta.get_field(name)
        if isinstance(field, EncryptedTextField) and field.index:
            index = model._meta.get_field(field.index)
            assert isinstance(index, BlindIndexField)
            out[index.name] = None if value is None else index.index_of(str(value)[: index.prefix])
    return out


class _OnIndex:
    """Rewrites `encrypted = x` to `index = hmac(x)` on the same table alias."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if not isinstance(lhs, Col) or hasattr(rhs, "resolve_expression"):
            raise FieldError("加密字段只能与具体的值比较")
        field = lhs.target
        assert isinstance(field, EncryptedTextField)
        index = field.model._meta.get_field(field.index)
        assert isinstance(index, BlindIndexField)
        super().__init__(index.get_col(lhs.alias), self.hashed(index, rhs))  # type: ignore[call-arg]

    def hashed(self, index: BlindIndexField, rhs: Any) -> Any:
        return None if rhs is None else index.index_of(str(rhs))


class _IndexExact(_OnIndex, Exact):
    pass


class _IndexIn(_OnIndex, In):
    def hashed(self, index: BlindIndexField, rhs: Any) -> Any:
        return [index.index_of(str(v)) for v in rhs if v is not None]


class RecordMacField(models.CharField):  # type: ignore[type-arg]
    """A MAC over the row's `over` fields, set on every save by the application; a row changed in the
    database by anything else no longer matches (`matches`)."""

    def __init__(self, *args: Any, over: Sequence[str], **kwargs: Any) -> None:
        self.over = tuple(over)
        kwargs.setdefault("max_length", 80)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["over"] = list(self.over)
        for key in ("max_length", "editable", "blank"):
            kwargs.pop(key, None)
        return name, path, args, kwargs

    def canonical(self, instance: models.Model) -> bytes:
        content = {name: _canonical_value(getattr(instance, name)) for name in self.over}
        return json.dumps(
            [instance._meta.label_lower, content], sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode()

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = fieldcrypto.mac(keyring(), self.canonical(model_instance))
        setattr(model_instance, self.attname, value)
        return value

    def matches(self, instance: models.Model) -> bool:
        stored = getattr(instance, self.attname) or ""
        return fieldcrypto.mac_matches(keyring(), self.canonical(instance), stored)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "name") and hasattr(value, "storage"):  # a FieldFile: its stored name
        return value.name or ""
    return value
