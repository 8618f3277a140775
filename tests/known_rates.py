"""An inventory whose rates are known by hand, with back-dated changes (used by unit and Prometheus tests).

Timeline (UTC): everything is created at T0 (2021-06-01); T1 (2022-03-01) and T2 (2023-03-01) change it.

Systems (owner, state):
  S1  RU1 migrated                         S7  NU  migrated
  S2  RU1 not_migrated → migrated at T1    S8  KU  not_migrated → migrated at T2
  S3  RU1 classified                       S9  GU  not_migrated; retire determination at T2
  S4  RU2 not_migrated                     S10 GU  migrated; an exemption that is inactive
  S5  RU2 retired (zombie)                 S11 TU  in_progress
  S6  NU  not_migrated; exemption at T1    S12 GU  not_migrated; deleted at T2
Networks: N1 RU1 interconnected; N2 RU1 classified; N3 RU1 not_started → migrated at T1; N4 NU retired;
  N5 NU in_progress; N6 KU not_started, exempt at T0, exemption withdrawn (look-back) at T2.
Service items: VS1 (region-vertical, RU1): I1 docked, I2 not_docked → docked at T2, I3 exempt;
  VS2 (city-vertical, NU): I4 docked, I5 in_progress; VS3 (national, RU2): I6 (never counted);
  VS4 (region-vertical, classified, RU2): I7.
Horizontal access: RU1 → region node connected; RU2 → region node planned → connected at T2; NU → Nanning
  city node connected; KU → 兴宁区 county node planned (a county unit on the Nanning city node would be refused:
  own level, own area); GU → Guilin node disconnected; TU none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from core.audit import ChangeContext
from inventory import service
from tests.builders import Inv

T0 = datetime(2021, 6, 1, tzinfo=UTC)
T1 = datetime(2022, 3, 1, tzinfo=UTC)
T2 = datetime(2023, 3, 1, tzinfo=UTC)
BEFORE_T1 = datetime(2021, 12, 1, tzinfo=UTC)
BETWEEN = datetime(2022, 6, 1, tzinfo=UTC)


@dataclass
class Known:
    ids: dict[str, int] = field(default_factory=dict)


def build(session: Session) -> Known:
    """Create the inventory described above; returns ids by the names used there."""
    inv = Inv(session, ChangeContext(actor="loader", role="admin"))
    k = Known()
    ids = k.ids

    def add(code: str, kind_name: str, /, **data: object) -> int:
        ids[code] = inv.add(kind_name, at=T0, code=code, **data)
        return ids[code]

    reg = ids["450000"] = inv.add("regions", at=T0, code="450000", level="region", name="广西壮族自治区")
    nn = add("450100", "regions", level="city", name="南宁市", parent_id=reg)
    xn = add("450102", "regions", level="county", name="兴宁区", parent_id=nn)
    tw = add("450102001", "regions", level="township", name="兴东街道", parent_id=xn)
    gl = add("450300", "regions", level="city", name="桂林市", parent_id=reg)
    ru1 = add("RU1", "units", level="region", region_id=reg, name="自治区大数据发展局")
    ru2 = add("RU2", "units", level="region", region_id=reg, name="自治区公安厅")
    nu = add("NU", "units", level="city", region_id=nn, name="南宁市大数据发展局")
    ku = add("KU", "units", level="county", region_id=xn, parent_id=nu, name="兴宁区政务服务中心")
    tu = add("TU", "units", level="township", region_id=tw, parent_id=ku, name="兴东街道办事处")
    gu = add("GU", "units", level="city", region_id=gl, name="桂林市大数据发展局")
    room = add("ROOM", "rooms", owner_unit_id=ru1, region_id=reg, name="机房")
    cloud = add("CLOUD", "clouds", kind="gov_cloud", region_id=reg, name="壮美广西·政务云")

    def sys(name: str, unit: int, status: str = "not_migrated", **kw: object) -> int:
        placed: dict[str, object] = (
            {"hosting": "gov_cloud", "cloud_id": cloud}
            if status == "migrated"
            else {"hosting": "room", "room_id": room}
        )
        return add(name, "systems", owner_unit_id=unit, status=status, name=f"系统{name}", **placed, **kw)

    sys("S1", ru1, "migrated")
    sys("S2", ru1)
    sys("S3", ru1, classified=True)
    sys("S4", ru2)
    sys("S5", ru2, "retired", business_active=False)
    sys("S6", nu)
    sys("S7", nu, "migrated")
    sys("S8", ku)
    sys("S9", gu)
    sys("S10", gu, "migrated")
    sys("S11", tu, "in_progress")
    sys("S12", gu)

    def net(name: str, unit: int, status: str = "not_started", **kw: object) -> int:
        return add(name, "networks", owner_unit_id=unit, level="region", status=status, name=f"专网{name}", **kw)

    net("N1", ru1, "interconnected")
    net("N2", ru1, classified=True)
    net("N3", ru1)
    net("N4", nu, "retired")
    net("N5", nu, "in_progress")
    net("N6", ku)

    vs1 = add("VS1", "vertical_systems", scope="region", owner_unit_id=ru1, region_id=reg, name="区垂系统")
    vs2 = add("VS2", "vertical_systems", scope="city", owner_unit_id=nu, region_id=nn, name="市垂系统")
    vs3 = add("VS3", "vertical_systems", scope="national", owner_unit_id=ru2, region_id=reg, name="国垂系统")
    vs4 = add(
        "VS4", "vertical_systems", scope="region", owner_unit_id=ru2, region_id=reg, name="涉密区垂", classified=True
    )
    for name, vs, status in (
        ("I1", vs1, "docked"),
        ("I2", vs1, "not_docked"),
        ("I3", vs1, "not_docked"),
        ("I4", vs2, "docked"),
        ("I5", vs2, "in_progress"),
        ("I6", vs3, "not_docked"),
        ("I7", vs4, "not_docked"),
    ):
        add(name, "service_items", vertical_system_id=vs, docking_status=status, name=f"事项{name}")

    rn = add("NODE-R", "extranet_nodes", level="region", region_id=reg, name="自治区节点")
    nnode = add("NODE-NN", "extranet_nodes", level="city", region_id=nn, name="南宁市节点", parent_id=rn)
    gnode = add("NODE-GL", "extranet_nodes", level="city", region_id=gl, name="桂林市节点", parent_id=rn)
    xnode = add("NODE-XN", "extranet_nodes", level="county", region_id=xn, name="兴宁区节点", parent_id=nnode)
    for name, unit, node, status in (
        ("A-RU1", ru1, rn, "connected"),
        ("A-RU2", ru2, rn, "planned"),
        ("A-NU", nu, nnode, "connected"),
        ("A-KU", ku, xnode, "planned"),
        ("A-GU", gu, gnode, "disconnected"),
    ):
        add(name, "node_access", unit_id=unit, node_id=node, status=status)

    def det(name: str, kind: str, subject: str, decision: str, at: datetime, **kw: object) -> int:
        ids[name] = inv.add(
            "determinations",
            at=at,
            code=name,
            subject_kind=kind,
            subject_id=ids[subject],
            decision=decision,
            decided_by=kw.pop("decided_by", "云长制办公室"),
            decided_on=at.date().isoformat(),
            **kw,
        )
        return ids[name]

    det("D-S6", "system", "S6", "exempt", T1, reason="有特殊规定", decided_by="李四")
    det("D-S9", "system", "S9", "retire", T2, reason="僵尸信息系统")
    det("D-S10", "system", "S10", "exempt", T0, reason="曾申请豁免", active=False)
    det("D-N6", "network", "N6", "exempt", T0, reason="有特殊规定")
    det("D-I3", "service_item", "I3", "exempt", T0, reason="事项已取消")

    inv.set("systems", ids["S2"], at=T1, status="migrated", hosting="gov_cloud", cloud_id=cloud)
    inv.set("networks", ids["N3"], at=T1, status="migrated")
    inv.set("systems", ids["S8"], at=T2, status="migrated", hosting="gov_cloud", cloud_id=cloud)
    inv.set("service_items", ids["I2"], at=T2, docking_status="docked")
    inv.set("node_access", ids["A-RU2"], at=T2, status="connected")
    inv.set("determinations", ids["D-N6"], at=T2, active=False)
    service.delete(session, "systems", ids["S12"], ChangeContext(actor="loader", role="admin", at=T2))
    session.commit()
    return k
