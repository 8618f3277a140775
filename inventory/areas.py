"""Administrative areas: which area of a level a region lies in, four-level coverage of places, and the
horizontal-access rule (a unit connects to a node of its own level in its own area).

Shared by the service (refusing mismatched access records), the rate engine and the live collector view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import RegionLevel
from inventory.models import ExtranetNode, Region, Unit

LEVELS = [lv.value for lv in RegionLevel]
LEVEL_ZH = {"region": "自治区级", "city": "市级", "county": "县级", "township": "乡镇级"}


@dataclass(frozen=True)
class Place:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None


@dataclass
class RegionTree:
    """The region tree in memory (a few thousand rows at most)."""

    places: dict[int, Place] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> RegionTree:
        rows = session.execute(select(Region.id, Region.code, Region.name, Region.level, Region.parent_id))
        return cls({r.id: Place(r.id, r.code, r.name, str(r.level.value), r.parent_id) for r in rows})

    def area(self, region_id: int | None, level: str) -> int | None:
        """The region of `level` at or above `region_id` (None when there is none)."""
        seen: set[int] = set()
        cur = self.places.get(region_id) if region_id is not None else None
        while cur is not None and cur.id not in seen:
            if cur.level == level:
                return cur.id
            seen.add(cur.id)
            cur = self.places.get(cur.parent_id) if cur.parent_id is not None else None
        return None

    @classmethod
    def around(cls, session: Session, region_ids: Iterable[int | None]) -> RegionTree:
        """Only the given regions and their ancestors (through the session's identity map)."""
        tree = cls()
        for rid in region_ids:
            while rid is not None and rid not in tree.places:
                r = session.get(Region, rid)
                if r is None:
                    break
                tree.places[r.id] = Place(r.id, r.code, r.name, str(r.level.value), r.parent_id)
                rid = r.parent_id
        return tree

    def city_of(self, region_id: int) -> Place | None:
        found = self.area(region_id, RegionLevel.CITY.value)
        return self.places.get(found) if found is not None else None


def access_problem(tree: RegionTree, unit: Mapping[str, object], node: Mapping[str, object]) -> str | None:
    """Why a unit may not count through this node (None when it may): own level, own area.

    `unit` and `node` carry code, level and region_id.
    """
    u_level, n_level = str(unit["level"]), str(node["level"])
    u_area = tree.area(unit["region_id"], u_level)  # type: ignore[arg-type]
    n_area = tree.area(node["region_id"], n_level)  # type: ignore[arg-type]

    def where(area: int | None) -> str:
        p = tree.places.get(area) if area is not None else None
        return f"{p.name}({p.code})" if p else "无 / none"

    if u_level == n_level and u_area is not None and u_area == n_area:
        return None
    return (
        f"单位 {unit['code']}（{LEVEL_ZH.get(u_level, u_level)}，{where(u_area)}）只能接入本级、本区域的电子政务外网节点，"
        f"节点 {node['code']} 为{LEVEL_ZH.get(n_level, n_level)}（{where(n_area)}） / "
        f"unit {unit['code']} ({u_level}) may only access a node of its own level in its own area; "
        f"node {node['code']} is {n_level}-level"
    )


def node_access_problem(session: Session, state: Mapping[str, object]) -> str | None:
    """The service rule for a horizontal access record's would-be state (None when it is fine)."""
    unit = session.get(Unit, state.get("unit_id"))
    node = session.get(ExtranetNode, state.get("node_id"))
    if unit is None or node is None:
        return None  # unknown references are reported by the reference check
    tree = RegionTree.around(session, (unit.region_id, node.region_id))
    return access_problem(
        tree,
        {"code": unit.code, "level": unit.level.value, "region_id": unit.region_id},
        {"code": node.code, "level": node.level.value, "region_id": node.region_id},
    )


@dataclass(frozen=True)
class CoverageRow:
    """Areas of one level (and city) against those with a working extranet node."""

    level: str
    city: str  # city code, "" for the level as a whole
    city_name: str
    areas: int
    covered: int

    @property
    def ratio(self) -> float | None:
        return None if self.areas == 0 else self.covered / self.areas


@dataclass(frozen=True)
class Gap:
    """An area of a level with no working node."""

    level: str
    code: str
    name: str
    city: str  # city code ("" for the region itself)
    city_name: str
    nodes: int  # nodes of that level in the area (0: none at all; >0: none working)


def coverage(tree: RegionTree, nodes: Iterable[tuple[str, int, bool]]) -> tuple[list[CoverageRow], list[Gap]]:
    """Four-level coverage of places: per level (and per level and city) the areas of that level with a
    working node of that level, over all areas of that level in the region tree; plus the gap list.

    `nodes` holds (node level, node region id, working) for every node.
    """
    covered: set[tuple[str, int]] = set()
    present: dict[tuple[str, int], int] = {}
    for level, region_id, ok in nodes:
        area = tree.area(region_id, level)
        if area is None:
            continue
        present[(level, area)] = present.get((level, area), 0) + 1
        if ok:
            covered.add((level, area))
    counts: dict[tuple[str, str], list[int]] = {}
    names: dict[str, str] = {"": ""}
    gaps: list[Gap] = []
    for p in tree.places.values():
        city = tree.city_of(p.id) if p.level != RegionLevel.REGION else None
        city_code = city.code if city else ""
        names[city_code] = city.name if city else ""
        ok = (p.level, p.id) in covered
        for key in ((p.level, ""), (p.level, city_code)) if city_code else ((p.level, ""),):
            c = counts.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += int(ok)
        if not ok:
            gaps.append(Gap(p.level, p.code, p.name, city_code, names[city_code], present.get((p.level, p.id), 0)))
    order = {lv: i for i, lv in enumerate(LEVELS)}
    rows = [
        CoverageRow(lv, city, names.get(city, ""), a, c)
        for (lv, city), (a, c) in sorted(counts.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1]))
    ]
    gaps.sort(key=lambda g: (order.get(g.level, 9), g.city, g.code))
    return rows, gaps
