"""The exchange catalog (数据共享目录): which datasets departments deliver and what each column means.

The YAML next to this module is the contract. Renaming a field or adding a dataset is a YAML edit; this
module only parses and checks it, so a malformed catalog fails loudly at load time, not mid-import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

CATALOG_PATH = Path(__file__).resolve().parent / "exchange-catalog.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FIELD_TYPES = ("id", "str", "enum", "date", "money", "int", "float", "bool")
CADENCES = ("snapshot", "events")
NUMERIC_TYPES = ("money", "int", "float")
# Bounds a field has when the catalog names none (ADR 0028): numbers are never negative and below a
# billion (no department sends more for one row); dates are not before 1900 and not after the end of the
# delivered period; text is at most 200 characters (the longest real values, names of employers and
# declaration reasons, are well below it).
DEFAULT_RANGE = (0.0, 1e9)
DEFAULT_MIN_DATE = dt.date(1900, 1, 1)
DEFAULT_MAX_LENGTH = 200
# A snapshot whose key holds one of these fields is a *keyed* snapshot (ag_income: one row per household
# and year): a delivery replaces only the rows with the same key. The YAML may say so with `replace: key`.
PERIOD_KEY_FIELDS = ("year",)

FieldType = Literal["id", "str", "enum", "date", "money", "int", "float", "bool"]
Cadence = Literal["snapshot", "events"]


class CatalogError(ValueError):
    """The catalog YAML does not describe a usable contract."""


@dataclass(frozen=True)
class Field:
    name: str
    zh: str
    type: FieldType
    key: bool = False
    nullable: bool = False
    values: dict[str, str] | None = None
    range: tuple[float, float] | None = None
    # dates: the earliest value, and how many years after the end of the delivered period the latest
    # may be (0: none; a term end or a loan's due date lies ahead)
    min_date: dt.date = DEFAULT_MIN_DATE
    years_ahead: int = 0
    # text: the longest value accepted, in characters
    max_length: int | None = None
    # cross-field rule: this number may not exceed that field of the same row (self-pay ≤ total cost)
    not_above: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        """An enum's Chinese label → code (a clerk writes 住院 for inpatient)."""
        return {zh: code for code, zh in (self.values or {}).items()}

    def max_date(self, period_end: dt.date) -> dt.date:
        """The latest date accepted in a delivery for the period ending `period_end`."""
        if not self.years_ahead:
            return period_end
        try:
            return period_end.replace(year=period_end.year + self.years_ahead)
        except ValueError:  # 29 February
            return period_end.replace(year=period_end.year + self.years_ahead, day=28)


def bilingual(f: Field) -> str:
    """The two-language column label of the downloadable template (and of error messages)."""
    return f"{f.zh}({f.name})"


@dataclass(frozen=True, eq=False)
class Department:
    name: str
    zh: str
    note: str | None = None


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    department: str
    zh: str
    cadence: Cadence
    items: dict[int, str]
    fields: list[Field]
    key_fields: tuple[str, ...] = ()
    replace: Literal["all", "key"] = "all"
    # How often a delivery is due: every month, or once a year in `due_month` (the income survey).
    frequency: Literal["monthly", "annual"] = "monthly"
    due_month: int | None = None

    def due_in(self, period: str) -> bool:
        """Is a delivery of this dataset expected for period YYYY-MM?"""
        return self.frequency == "monthly" or int(period[5:7]) == self.due_month

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def id_field(self) -> str | None:
        """The first resident-ID column (the simulator injects ID defects there)."""
        return next((f.name for f in self.fields if f.type == "id"), None)

    @property
    def identity_fields(self) -> tuple[str, ...]:
        """What makes two event rows the same event: the key, or the whole row when there is no key."""
        return self.key_fields or tuple(self.field_names)

    def header_map(self) -> dict[str, str]:
        """Column label as found in a file (canonical `name`, Chinese `zh`, or both as the downloadable
        template writes them: `zh(name)`) → canonical name."""
        out = {bilingual(f): f.name for f in self.fields}
        out.update({f.zh: f.name for f in self.fields})
        out.update({f.name: f.name for f in self.fields})
        return out


@dataclass(frozen=True, eq=False)
class Catalog:
    version: str
    datasets: dict[str, Dataset]
    departments: dict[str, Department] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Dataset:
        return self.datasets[name]

    def __contains__(self, name: object) -> bool:
        return name in self.datasets

    @cached_property
    def by_department(self) -> dict[str, list[Dataset]]:
        out: dict[str, list[Dataset]] = {d: [] for d in self.departments}
        for ds in self.datasets.values():
            out[ds.department].append(ds)
        return out


def load_catalog(path: Path | None = None) -> Catalog:
    """Parse and check the catalog (default: the packaged YAML). Raises CatalogError when malformed."""
    return catalog_from_bytes((path or CATALOG_PATH).read_bytes())


@lru_cache(maxsize=16)
def catalog_from_bytes(data: bytes) -> Catalog:
    """The same from YAML held elsewhere (a catalog version stored in the database). Cached by content:
    parsing takes ~0.5 s and every import asks for the catalog; callers never modify it."""
    try:
        raw = yaml.load(data, Loader=_LOADER)  # noqa: S506 - a safe loader, the C one when available
    except yaml.YAMLError as exc:
        raise CatalogError(f"catalog is not valid YAML: {exc}") from exc
    return parse_catalog(raw, version=hashlib.sha256(data).hexdigest()[:12])


def parse_catalog(raw: Any, *, version: str) -> Catalog:
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
        raise CatalogError("catalog needs a top-level `datasets` mapping")
    departments = {
        str(name): Department(str(name), str(_need(spec, "zh", f"department {name}")), spec.get("note"))
        for name, spec in (raw.get("departments") or {}).items()
    }
    datasets = {str(name): _dataset(str(name), spec, departments) for name, spec in raw["datasets"].items()}
    return Catalog(version=version, datasets=datasets, departments=departments)


def _need(spec: Any, key: str, where: str) -> Any:
    if not isinstance(spec, dict) or spec.get(key) in (None, ""):
        raise CatalogError(f"{where}: missing `{key}`")
    return spec[key]


def _dataset(name: str, spec: Any, departments: dict[str, Department]) -> Dataset:
    where = f"dataset {name}"
    department = str(_need(spec, "department", where))
    if department not in departments:
        raise CatalogError(f"{where}: unknown department {department!r} (known: {', '.join(departments)})")
    cadence = str(_need(spec, "cadence", where))
    if cadence not in CADENCES:
        raise CatalogError(f"{where}: cadence must be one of {CADENCES}, not {cadence!r}")
    raw_fields = _need(spec, "fields", where)
    if not isinstance(raw_fields, list):
        raise CatalogError(f"{where}: `fields` must be a list")
    fields = [_field(where, f) for f in raw_fields]
    if len({f.name for f in fields}) != len(fields):
        raise CatalogError(f"{where}: a field name is defined twice")
    labels: dict[str, str] = {}
    for f in fields:
        for label in (f.name, f.zh):
            # a header must map to exactly one column, whichever naming style the file uses
            if labels.setdefault(label, f.name) != f.name:
                raise CatalogError(f"{where}: column label {label!r} is used by two fields")
    for f in fields:
        if f.not_above is not None:
            other = next((g for g in fields if g.name == f.not_above), None)
            if other is None or other.type not in NUMERIC_TYPES or f.type not in NUMERIC_TYPES:
                raise CatalogError(f"{where} field {f.name}: `not_above` needs another numeric field")
    keys = tuple(f.name for f in fields if f.key)
    replace = spec.get("replace")
    if replace is None:
        replace = "key" if cadence == "snapshot" and any(k in PERIOD_KEY_FIELDS for k in keys) else "all"
    if replace not in ("all", "key") or (replace == "key" and (cadence != "snapshot" or not keys)):
        raise CatalogError(f"{where}: `replace: {replace}` needs a snapshot with key fields (all | key)")
    items = {int(k): str(v) for k, v in (spec.get("items") or {}).items()}
    frequency = spec.get("frequency", "monthly")
    due_month = spec.get("due_month")
    if frequency not in ("monthly", "annual"):
        raise CatalogError(f"{where}: frequency must be monthly or annual, not {frequency!r}")
    if frequency == "annual" and not (isinstance(due_month, int) and 1 <= due_month <= 12):
        raise CatalogError(f"{where}: an annual dataset needs `due_month` (1-12)")
    return Dataset(
        name=name,
        department=department,
        zh=str(_need(spec, "zh", where)),
        cadence=cadence,  # type: ignore[arg-type]  # checked against CADENCES above
        items=items,
        fields=fields,
        key_fields=keys,
        replace=replace,
        frequency=frequency,
        due_month=due_month if frequency == "annual" else None,
    )


def _field(where: str, spec: Any) -> Field:
    name = str(_need(spec, "name", f"{where} field"))
    where = f"{where} field {name}"
    ftype = str(_need(spec, "type", where))
    if ftype not in FIELD_TYPES:
        raise CatalogError(f"{where}: unknown type {ftype!r} (known: {', '.join(FIELD_TYPES)})")
    values = spec.get("values")
    if ftype == "enum":
        if not isinstance(values, dict) or not values:
            raise CatalogError(f"{where}: an enum needs `values` (code: 中文)")
        values = {str(k): str(v) for k, v in values.items()}
        ambiguous = any(label in values and label != code for code, label in values.items())
        if len(set(values.values())) != len(values) or ambiguous:
            # labels are accepted in place of codes: one label must mean one code
            raise CatalogError(f"{where}: an enum label repeats or is another value's code")
    elif values is not None:
        raise CatalogError(f"{where}: only enums take `values`")
    rng = spec.get("range")
    if rng is not None:
        if ftype not in NUMERIC_TYPES:
            raise CatalogError(f"{where}: `range` needs a numeric type, not {ftype}")
        if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, int | float) for x in rng)):
            raise CatalogError(f"{where}: `range` must be [low, high]")
        if rng[0] > rng[1]:
            raise CatalogError(f"{where}: `range` low is above high")
        rng = (float(rng[0]), float(rng[1]))
    elif ftype in NUMERIC_TYPES:
        rng = DEFAULT_RANGE
    return Field(
        name=name,
        zh=str(_need(spec, "zh", where)),
        type=ftype,  # type: ignore[arg-type]  # checked against FIELD_TYPES above
        key=bool(spec.get("key", False)),
        nullable=bool(spec.get("nullable", False)),
        values=values,
        range=rng,
        **_bounds(where, ftype, spec),
    )


def _bounds(where: str, ftype: str, spec: dict[str, Any]) -> dict[str, Any]:
    """min_date / years_ahead for dates, max_length for text, not_above for numbers (checked per type)."""
    out: dict[str, Any] = {}
    allowed = {"date": ("min_date", "years_ahead"), "str": ("max_length",)}.get(ftype, ())
    if ftype in NUMERIC_TYPES:
        allowed = ("not_above",)
    for key in ("min_date", "years_ahead", "max_length", "not_above"):
        if key in spec and key not in allowed:
            raise CatalogError(f"{where}: `{key}` does not apply to type {ftype}")
    if "min_date" in spec:
        value = spec["min_date"]
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                value = None
        if not isinstance(value, dt.date):
            raise CatalogError(f"{where}: `min_date` must be YYYY-MM-DD")
        out["min_date"] = value
    for key in ("years_ahead", "max_length"):
        if key in spec:
            if not isinstance(spec[key], int) or isinstance(spec[key], bool) or spec[key] < 0:
                raise CatalogError(f"{where}: `{key}` must be a whole number ≥ 0")
            out[key] = spec[key]
    if ftype == "str":
        out.setdefault("max_length", DEFAULT_MAX_LENGTH)
    if "not_above" in spec:
        out["not_above"] = str(spec["not_above"])
    return out
