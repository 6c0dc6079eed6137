"""Parameters of a simulation run: size, place, time, seed, calibration targets and defect rates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

# Rural per-capita disposable income of formerly-poor counties: 17,522 元 in 2024 (POLICY.md, seed article),
# growing about 7 %/year for four years running.
INCOME_MEAN_2024 = 17_522.0
INCOME_GROWTH = 0.07
# Province monitoring line (监测范围); other years grow ~3.75 %/year from the nearest configured year.
DEFAULT_LINES: dict[int, float] = {2025: 8_000.0, 2026: 8_300.0}
LINE_GROWTH = 0.0375


@dataclass(frozen=True)
class DefectRates:
    """Rates of injected data defects. Row rates are per eligible row; file defects are counts per run."""

    id_check_char: float = 0.003
    id_excel_mangled: float = 0.002
    id_missing: float = 0.002
    name_typo: float = 0.005
    duplicate_event: float = 0.01
    gbk_files: int = 1
    late_datasets: int = 1
    zh_header_files: int = 1
    # share of Excel's 15-digit + 000 IDs whose check character happens to fit that are delivered as they
    # are (valid-looking; a man's then contradicts his gender), instead of in E-notation
    id_excel_valid_looking: float = 1.0
    # share of persons whose ID is broken (a wrong check character) in the police snapshot itself, the
    # same way in every month's ps_person (recorded as police_id_broken)
    police_id_broken: float = 0.0005

    @classmethod
    def none(cls) -> DefectRates:
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0, 0.0)

    @property
    def any(self) -> bool:
        return any(bool(v) for v in self.__dict__.values())

    def with_overrides(self, specs: list[str]) -> DefectRates:
        """Apply `KIND=RATE` overrides (the CLI's --defect-rate). KIND is a field name or the kind recorded in
        truth/defects.parquet (gbk_encoding, zh_headers, late_dataset); rates are in [0, 1], file counts are
        whole numbers >= 0. Raises ValueError with a readable message."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, float | int] = {}
        for spec in specs:
            kind, sep, text = spec.partition("=")
            kind, text = kind.strip(), text.strip()
            name = DEFECT_KIND_ALIASES.get(kind, kind)
            if not sep or not kind or not text:
                raise ValueError(f"--defect-rate expects KIND=RATE, got {spec!r}")
            if name not in known:
                raise ValueError(f"unknown defect kind {kind!r}; known: {', '.join(sorted(known))}")
            if known[name].type in (int, "int"):
                try:
                    count = int(text)
                except ValueError:
                    raise ValueError(
                        f"{kind} is a number of files per run: give a whole number, got {text!r}"
                    ) from None
                if count < 0:
                    raise ValueError(f"{kind} must be >= 0, got {count}")
                changes[name] = count
            else:
                try:
                    rate = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
                except ValueError:
                    raise ValueError(f"{kind}: not a number: {text!r}") from None
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"{kind} is a share of rows: give a rate between 0 and 1, got {text!r}")
                changes[name] = rate
        return replace(self, **changes)  # type: ignore[arg-type]


# kinds as recorded in truth/defects.parquet → DefectRates fields
DEFECT_KIND_ALIASES = {
    "gbk_encoding": "gbk_files",
    "zh_headers": "zh_header_files",
    "late_dataset": "late_datasets",
}


@dataclass(frozen=True)
class SynthConfig:
    province: str = "36"
    county: str | None = "360722"
    households: int | None = 50_000
    persons: int | None = None
    months: int = 12
    start: str = "2025-01"
    seed: int = 1
    lines: dict[int, float] = field(default_factory=lambda: dict(DEFAULT_LINES))
    defects: DefectRates = field(default_factory=DefectRates)
    # months simulated before `start` so that 12-month windows and the first delivery's history are full
    burn_in: int = 12
    former_poor_share: float = 0.13
    income_sigma: float = 0.42
    # log-income dispersion kept from the forward model (1 = none removed); sets the share under the line
    income_shrink: float = 0.30
    # scenario switches for the regional-risk scan (docs/analytics.md): scale of the random disasters
    # (0 = none) and one disaster forced on a seed village in a period, as ("YYYY-MM", "12-digit village code")
    disaster_rate: float = 1.0
    disaster_at: tuple[str, str] | None = None

    @property
    def region(self) -> str:
        return self.county or self.province

    @property
    def start_month(self) -> np.datetime64:
        return np.datetime64(self.start, "M")

    def period(self, t: int) -> str:
        """YYYY-MM of month index t (0 = start; negative = burn-in)."""
        return str(self.start_month + t)

    def year_of(self, t: int) -> int:
        return int(str(self.start_month + t)[:4])

    def line(self, year: int) -> float:
        """The monitoring line of a year: configured, else grown from the nearest configured year."""
        if year in self.lines:
            return float(self.lines[year])
        nearest = min(self.lines, key=lambda y: abs(y - year))
        return round(float(self.lines[nearest]) * (1 + LINE_GROWTH) ** (year - nearest), -1)

    def income_mean(self, year: int) -> float:
        return INCOME_MEAN_2024 * (1 + INCOME_GROWTH) ** (year - 2024)

    def validate(self) -> None:
        if not self.province.isdigit() or len(self.province) != 2:
            raise ValueError("province must be a 2-digit code, e.g. 36")
        if self.county and (len(self.county) != 6 or not self.county.startswith(self.province)):
            raise ValueError("county must be a 6-digit code inside the province")
        if not self.households and not self.persons:
            raise ValueError("give households or persons")
        if self.months < 1:
            raise ValueError("months must be >= 1")
        dt.date.fromisoformat(self.start + "-01")


@dataclass
class SynthSummary:
    households: int
    persons: int
    months: int
    periods: list[str]
    rows: dict[str, int]
    at_risk_share: dict[str, float]
    monitored_share_of_at_risk: float
    defects: dict[str, int]
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "households": self.households,
            "persons": self.persons,
            "months": self.months,
            "periods": self.periods,
            "rows": self.rows,
            "at_risk_share": self.at_risk_share,
            "monitored_share_of_at_risk": self.monitored_share_of_at_risk,
            "defects": self.defects,
        }
