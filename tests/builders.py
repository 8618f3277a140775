"""Small builders for inventories of known shape; every write goes through inventory.service."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from core.audit import ChangeContext
from inventory import build_rules, service

_seq = itertools.count(1)


@dataclass
class Inv:
    """Creates objects with sensible defaults; returns ids. Pass `at=` to back-date a change."""

    session: Session
    ctx: ChangeContext = field(default_factory=lambda: ChangeContext(actor="builder", role="admin"))

    def _ctx(self, at: Any = None) -> ChangeContext:
        return ChangeContext(actor=self.ctx.actor, role=self.ctx.role, at=at) if at else self.ctx

    allow_new: bool = True  # record the office's allow_new determination before creating a room/network/exit/cloud

    def add(self, kind_name: str, /, at: Any = None, **data: Any) -> int:
        data.setdefault("code", f"{kind_name[:3].upper()}{next(_seq):05d}")
        if self.allow_new and kind_name in build_rules.GUARDED and not data.get("classified"):
            self.allow(kind_name, data["code"], at)
        return int(service.create(self.session, kind_name, data, self._ctx(at)).id)  # type: ignore[attr-defined]

    def allow(self, kind_name: str, code: str, at: Any = None) -> int:
        """The office's determination allowing a new room/network/exit/cloud with this code (准予新建)."""
        day = (
            (at if isinstance(at, datetime) else datetime.now(UTC)).date().isoformat()
            if not isinstance(at, str)
            else at[:10]
        )
        data = {
            "code": f"ALLOW-{code}",
            "subject_kind": build_rules.GUARDED[kind_name][0].value,
            "new_object_code": code,
            "decision": "allow_new",
            "reason": "经认定确需新建",
            "decided_by": "云长制办公室",
            "decided_on": day,
        }
        return int(service.create(self.session, "determinations", data, self._ctx(at)).id)  # type: ignore[attr-defined]

    def set(self, kind: str, obj_id: int, at: Any = None, **data: Any) -> None:
        service.update(self.session, kind, obj_id, data, self._ctx(at))

    def region(self, level: str = "region", parent_id: int | None = None, **kw: Any) -> int:
        kw.setdefault("name", f"区划{next(_seq)}")
        return self.add("regions", level=level, parent_id=parent_id, **kw)

    def unit(self, region_id: int, level: str = "region", parent_id: int | None = None, **kw: Any) -> int:
        kw.setdefault("name", f"单位{next(_seq)}")
        return self.add("units", region_id=region_id, level=level, parent_id=parent_id, **kw)

    def room(self, unit_id: int, region_id: int, **kw: Any) -> int:
        kw.setdefault("name", f"机房{next(_seq)}")
        return self.add("rooms", owner_unit_id=unit_id, region_id=region_id, **kw)

    def cloud(self, region_id: int, kind: str = "gov_cloud", **kw: Any) -> int:
        kw.setdefault("name", f"云{next(_seq)}")
        return self.add("clouds", region_id=region_id, kind=kind, **kw)

    def system(
        self,
        unit_id: int,
        room_id: int | None = None,
        cloud_id: int | None = None,
        status: str = "not_migrated",
        **kw: Any,
    ) -> int:
        """A system in a room, or (when cloud_id is given) hosted on the gov cloud."""
        kw.setdefault("name", f"系统{next(_seq)}")
        hosting = kw.pop("hosting", "gov_cloud" if cloud_id else "room")
        return self.add(
            "systems", owner_unit_id=unit_id, room_id=room_id, cloud_id=cloud_id, hosting=hosting, status=status, **kw
        )

    def network(self, unit_id: int, level: str = "region", status: str = "not_started", **kw: Any) -> int:
        kw.setdefault("name", f"专网{next(_seq)}")
        return self.add("networks", owner_unit_id=unit_id, level=level, status=status, **kw)

    def node(self, region_id: int, level: str = "region", parent_id: int | None = None, **kw: Any) -> int:
        kw.setdefault("name", f"节点{next(_seq)}")
        return self.add("extranet_nodes", region_id=region_id, level=level, parent_id=parent_id, **kw)

    def basic(self) -> dict[str, int]:
        """Region → city → county, one unit per level, a room and a gov cloud: the usual skeleton."""
        r = self.region("region", code="450000", name="广西壮族自治区")
        c = self.region("city", r, code="450100", name="南宁市")
        k = self.region("county", c, code="450102", name="兴宁区")
        u = self.unit(r, "region", name="自治区大数据发展局", is_sub_cloud_chief=True)
        cu = self.unit(c, "city", name="南宁市大数据发展局", is_sub_cloud_chief=True)
        ku = self.unit(k, "county", parent_id=cu, name="兴宁区政务服务中心")
        room = self.room(u, r)
        cloud = self.cloud(r, site="南宁核心", clouds_yaml_name="gov-nanning")
        return {
            "region": r,
            "city": c,
            "county": k,
            "unit": u,
            "city_unit": cu,
            "county_unit": ku,
            "room": room,
            "cloud": cloud,
        }
