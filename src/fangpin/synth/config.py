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


def _knob_value(key: str, kind: str, text: str) -> float | int | bool:
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if kind == "int":
            return int(text)
        return float(text)
    except ValueError:
        raise ValueError(f"{key}: not a {kind}: {text!r}") from None


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
    # --- the county's world (docs/synth.md "Worlds"): the defaults reproduce the original simulator ---
    # what the departments see: share of employed persons whose job hr_employment records, of pension /
    # assistance / disability-subsidy recipients the departments deliver, of businesses registered
    wage_coverage: float = 1.0
    transfer_coverage: float = 1.0
    business_coverage: float = 1.0
    bank_feed: bool = True  # fi_deposit and fi_microcredit delivered at all
    # share of persons whose health, disability and accident records the departments hold
    registration_rate: float = 1.0
    survey_share: float = 0.1  # households sampled by the income survey besides 脱贫户 and the roster
    # shocks (illness, accident, job loss, disability, business failure, disasters) and income level
    shock_rate: float = 1.0
    income_level: float = 1.0  # × the per-capita income mean of formerly-poor counties
    uninsured_share: float = 0.0005  # persons without basic medical insurance
    enrollment_gaps: float = 0.0  # persons insured elsewhere whom ms_enrollment shows as uninsured
    bad_water_share: float = 0.004  # villages whose water fails the quality test at the start
    # monitoring practice of the county's cadres: the roster at the start, the monthly chance an at-risk
    # household is found, months it must meet the criteria before it can be brought in, the share the
    # cadres never bring in, and the monthly share of households NOT at risk brought in anyway
    start_monitored: float = 0.65
    discovery_rate: float = 0.13
    monitor_delay: int = 0
    never_monitored: float = 0.0
    false_monitoring: float = 0.0

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
        return INCOME_MEAN_2024 * self.income_level * (1 + INCOME_GROWTH) ** (year - 2024)

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
        for name in SHARE_KNOBS:
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} is a share: give a value between 0 and 1")
        if self.shock_rate < 0 or self.income_level <= 0 or self.monitor_delay < 0:
            raise ValueError("shock_rate and monitor_delay must be >= 0, income_level > 0")

    def with_world(self, name: str, overrides: list[str] | None = None) -> SynthConfig:
        """The named world's knobs (WORLDS), then `KEY=VALUE` overrides (the CLI's --world/--knob)."""
        if name not in WORLDS:
            raise ValueError(f"unknown world {name!r}; known: {', '.join(sorted(WORLDS))}")
        changes: dict[str, Any] = dict(WORLDS[name])
        types = {f.name: f.type for f in fields(self) if f.name in KNOBS}
        for spec in overrides or []:
            key, sep, text = (x.strip() for x in spec.partition("="))
            if not sep or key not in types:
                raise ValueError(f"--knob expects KEY=VALUE with KEY one of {', '.join(KNOBS)}; got {spec!r}")
            changes[key] = _knob_value(key, str(types[key]), text)
        return replace(self, **changes)


SHARE_KNOBS = (
    "wage_coverage",
    "transfer_coverage",
    "business_coverage",
    "registration_rate",
    "survey_share",
    "uninsured_share",
    "enrollment_gaps",
    "bad_water_share",
    "start_monitored",
    "discovery_rate",
    "never_monitored",
    "false_monitoring",
)
KNOBS = (*SHARE_KNOBS, "bank_feed", "shock_rate", "income_level", "monitor_delay", "disaster_rate")

# Named worlds (`fangpin synth --world NAME`): the knobs that differ from the default county. "default"
# is the world the original shipped model was trained on; the others are the training worlds of the
# shipped default (docs/model.md) and "far", the county it is measured on and never trained on.
WORLDS: dict[str, dict[str, Any]] = {
    "default": {},
    # departments see few wages and no bank data; income is lower
    "thin": {"wage_coverage": 0.45, "transfer_coverage": 0.9, "bank_feed": False, "income_level": 0.85},
    # a richer county with good records and slow cadres
    "rich": {"income_level": 1.3, "discovery_rate": 0.06, "monitor_delay": 2, "survey_share": 0.05},
    # frequent shocks, many uninsured members, several villages with bad water
    "shocky": {"shock_rate": 1.8, "disaster_rate": 1.5, "enrollment_gaps": 0.01, "bad_water_share": 0.05},
    # partial registration, no bank feed, eager cadres who also bring in households not at risk
    "sloppy": {
        "registration_rate": 0.7,
        "business_coverage": 0.5,
        "bank_feed": False,
        "discovery_rate": 0.25,
        "false_monitoring": 0.0005,
        "never_monitored": 0.1,
    },
    # the measuring county: unlike every training world at once (docs/model.md "Shipped default")
    "far": {
        "wage_coverage": 0.3,
        "transfer_coverage": 0.7,
        "business_coverage": 0.3,
        "bank_feed": False,
        "registration_rate": 0.8,
        "survey_share": 0.03,
        "shock_rate": 1.4,
        "income_level": 0.9,
        "enrollment_gaps": 0.03,
        "bad_water_share": 0.1,
        "start_monitored": 0.4,
        "discovery_rate": 0.05,
        "monitor_delay": 3,
        "never_monitored": 0.25,
        "false_monitoring": 0.001,
    },
}


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
