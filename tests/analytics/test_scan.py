"""The regional-risk scan finds the simulator's injected disaster and stays silent on a cluster-free run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from shapely.geometry import Point

from fangpin.pipeline.lake import Lake
from fangpin.pipeline.scan import ScanConfig, county_polygons, scan_counts, scan_lake, village_positions

from .conftest import DISASTER_VILLAGE, SCAN_PERIODS

AS_OF = SCAN_PERIODS[-1]


@pytest.mark.slow
def test_it_finds_the_injected_disaster_cluster(disaster_run: tuple[Lake, Path]) -> None:
    lake, truth = disaster_run
    result = scan_lake(lake, AS_OF)
    assert result.alerts, "the injected disaster must raise a regional alert"
    alert = result.alerts[0]
    assert alert.p_value < 0.05 and alert.relative_risk > 3
    assert alert.end == AS_OF and all(v.startswith(DISASTER_VILLAGE[:9]) for v in alert.villages)
    assert alert.risk_types[0][0] == "02" and alert.datasets[0][0] == "em_disaster"
    assert "因灾" in alert.cause_zh()
    shocks = pq.read_table(truth / "shocks.parquet")
    hit = shocks.filter(pc.equal(shocks["kind"], "disaster"))
    hit_households = set(hit.column("household_no").cast("string").to_pylist())
    hit_villages = {h[:12] for h in hit_households}
    assert len(set(alert.villages) & hit_villages) >= 0.75 * len(alert.villages)
    found = set(alert.households)
    # nearly all households the alert names were hit, and it names most of the hit ones
    assert len(found & hit_households) >= 0.8 * len(found)
    assert len(found & hit_households) >= 0.6 * len(hit_households)


@pytest.mark.slow
def test_it_raises_no_alert_on_a_run_without_clusters(quiet_run: Lake) -> None:
    result = scan_lake(quiet_run, AS_OF)
    assert result.events_in_window > 100  # illness, accidents, job losses are there: only no cluster
    assert result.alerts == []
    assert result.candidates and min(a.p_value for a in result.candidates) >= 0.05


def test_a_crafted_excess_in_neighbouring_villages_is_found_and_a_flat_matrix_is_not() -> None:
    rng = np.random.default_rng(7)
    grid = np.array([(x, y) for x in range(10) for y in range(10)], float) * 2.0  # 100 villages, 2 km apart
    counts = rng.poisson(1.0, size=(100, 15))
    flat, _ = scan_counts(counts, grid, config=ScanConfig(replications=199))
    assert all(p >= 0.05 for *_, p in flat)
    counts[[0, 1, 10, 11], -1] += 8  # four neighbouring villages, last month
    found, _ = scan_counts(counts, grid, config=ScanConfig(replications=199))
    centre, k, w, observed, expected, _, p_value = found[0]
    assert p_value < 0.05 and w == 1 and observed > 3 * expected
    assert centre in (0, 1, 10, 11) and k <= 8


def test_village_positions_are_deterministic_inside_the_county_and_keep_code_neighbours_close() -> None:
    codes = [f"360722{t:03d}{v:03d}" for t in range(100, 116) for v in range(200, 220)]
    first, again = village_positions(codes), village_positions(list(reversed(codes)))
    assert first == again
    county = county_polygons()["360722"]
    assert all(county.contains(Point(*first[c])) for c in codes)
    lon = np.array([first[c][0] for c in codes])
    lat = np.array([first[c][1] for c in codes])
    step = np.hypot(np.diff(lon), np.diff(lat))
    spread = np.hypot(lon - lon.mean(), lat - lat.mean()).mean()
    assert np.median(step) < 0.5 * spread  # consecutive codes sit close together


@pytest.mark.slow
def test_a_scan_run_stores_the_countys_alerts_and_a_rerun_replaces_them(
    disaster_run: tuple[Lake, Path], db: None, audit_rows
) -> None:
    from fangpin.analytics.actions import run_scan
    from fangpin.analytics.models import RegionalAlert

    lake, _ = disaster_run
    config = ScanConfig(replications=199)
    first = run_scan(AS_OF, county="360722", lake=lake, config=config)
    again = run_scan(AS_OF, county="360722", lake=lake, config=config)
    assert len(first) == len(again) >= 1
    stored = RegionalAlert.objects.get(pk=again[0].pk)
    assert RegionalAlert.objects.count() == len(again)
    assert stored.county == "360722" and "因灾" in stored.cause and stored.households
    assert len(audit_rows("REGIONAL_SCAN")) == 2
