"""A small inventory for the monthly report, with figures known by hand for 2024-01 and 2024-02.

Timeline (UTC): everything is created at JAN (2024-01-10). BOUNDARY is 2024-01-31T16:30Z, which is already
2024-02-01 00:30 in Beijing, so it belongs to February. FEB (2024-02-10) and MAR (2024-03-05) change things.

Units: RA, RB (region level, 自治区本级), NN (南宁市, city level), LZ (柳州市, city level).
Systems: RA A1 migrated; A2 not_migrated → migrated at BOUNDARY; A3 classified.
         RB B1 not_migrated; B2 not_migrated, exempt from FEB.
         NN C1, C2 migrated.   LZ D1 not_migrated; D2 not_migrated → migrated at MAR.
Networks: RA AN1 interconnected; LZ DN1 not_started.
Service items (region-vertical VS-R of RA): I1 docked; I2 not_docked → docked at FEB.
Horizontal access: RA → region node connected; RB → region node planned; NN → Nanning node connected;
  LZ → Liuzhou node connected from FEB (no record before).

As of 2024-01 end: systems 3/8, networks 1/2, items 1/2, horizontal 2/4, utilisation 4/10.
As of 2024-02 end: systems 4/7 (1 classified, 1 exempt), networks 1/2, items 2/2, horizontal 3/4, utilisation 5/9.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from core.audit import ChangeContext
from tests.builders import Inv

JAN = datetime(2024, 1, 10, tzinfo=UTC)
BOUNDARY = datetime(2024, 1, 31, 16, 30, tzinfo=UTC)
FEB = datetime(2024, 2, 10, tzinfo=UTC)
MAR = datetime(2024, 3, 5, tzinfo=UTC)


def build(session: Session) -> dict[str, int]:
    """Create the inventory above (committed); returns ids by code."""
    inv = Inv(session, ChangeContext(actor="loader", role="admin"))
    ids: dict[str, int] = {}

    def add(code: str, kind: str, /, at: datetime = JAN, **data: object) -> int:
        ids[code] = inv.add(kind, at=at, code=code, **data)
        return ids[code]

    reg = add("450000", "regions", level="region", name="广西壮族自治区")
    nn_r = add("450100", "regions", level="city", name="南宁市", parent_id=reg)
    lz_r = add("450200", "regions", level="city", name="柳州市", parent_id=reg)
    ra = add("RA", "units", level="region", region_id=reg, name="自治区甲厅")
    rb = add("RB", "units", level="region", region_id=reg, name="自治区乙厅")
    nn = add("NN", "units", level="city", region_id=nn_r, name="南宁市大数据发展局")
    lz = add("LZ", "units", level="city", region_id=lz_r, name="柳州市大数据发展局")
    room = add("ROOM", "rooms", owner_unit_id=ra, region_id=reg, name="自治区机房")
    cloud = add("CLOUD", "clouds", kind="gov_cloud", region_id=reg, name="壮美广西·政务云")
    on_cloud: dict[str, Any] = {"hosting": "gov_cloud", "cloud_id": cloud}
    in_room: dict[str, Any] = {"hosting": "room", "room_id": room}

    def system(code: str, unit: int, status: str = "not_migrated", **kw: Any) -> None:
        place = on_cloud if status == "migrated" else in_room
        add(code, "systems", owner_unit_id=unit, status=status, name=f"系统{code}", **place, **kw)

    system("A1", ra, "migrated")
    system("A2", ra)
    system("A3", ra, classified=True)
    system("B1", rb)
    system("B2", rb)
    system("C1", nn, "migrated")
    system("C2", nn, "migrated")
    system("D1", lz)
    system("D2", lz)
    add("AN1", "networks", owner_unit_id=ra, level="region", status="interconnected", name="甲厅专网")
    add("DN1", "networks", owner_unit_id=lz, level="city", status="not_started", name="柳州专网")
    vs = add("VS-R", "vertical_systems", scope="region", owner_unit_id=ra, region_id=reg, name="区垂系统")
    add("I1", "service_items", vertical_system_id=vs, docking_status="docked", name="事项一")
    add("I2", "service_items", vertical_system_id=vs, docking_status="not_docked", name="事项二")
    rnode = add("NODE-R", "extranet_nodes", level="region", region_id=reg, name="自治区节点")
    nnode = add("NODE-NN", "extranet_nodes", level="city", region_id=nn_r, name="南宁市节点", parent_id=rnode)
    lnode = add("NODE-LZ", "extranet_nodes", level="city", region_id=lz_r, name="柳州市节点", parent_id=rnode)
    add("ACC-RA", "node_access", unit_id=ra, node_id=rnode, status="connected")
    add("ACC-RB", "node_access", unit_id=rb, node_id=rnode, status="planned")
    add("ACC-NN", "node_access", unit_id=nn, node_id=nnode, status="connected")

    inv.set("systems", ids["A2"], at=BOUNDARY, status="migrated", **on_cloud)
    add(
        "DET-B2",
        "determinations",
        at=FEB,
        subject_kind="system",
        subject_id=ids["B2"],
        decision="exempt",
        reason="有特殊规定",
        decided_by="云长制办公室",
        decided_on=FEB.date().isoformat(),
    )
    inv.set("service_items", ids["I2"], at=FEB, docking_status="docked")
    add("ACC-LZ", "node_access", at=FEB, unit_id=lz, node_id=lnode, status="connected")
    inv.set("systems", ids["D2"], at=MAR, status="migrated", **on_cloud)
    session.commit()
    return ids
