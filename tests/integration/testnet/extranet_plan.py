"""The inventory side of the extranet test network: which node gets which address, and what it should turn out to be."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import Region
from inventory.regions import seed_guangxi
from tests.builders import Inv

DEVICES = {  # code: (address, device_type, credential name)
    "HW": ("172.23.1.1", "huawei", "netops"),
    "H3C": ("172.23.2.1", "hp_comware", "netops"),
    "CS": ("172.23.3.1", "cisco_ios", "netops"),
    "RJ": ("172.23.4.1", "ruijie_os", "netops"),
    "FRR": ("172.23.200.2", "cisco_ios", "frr"),
    "SLOW": ("172.23.9.1", "huawei", "netops"),
    "GARBLED": ("172.23.9.2", "huawei", "netops"),
    "AUTHFAIL": ("172.23.9.3", "huawei", "netops"),
}


@dataclass
class Extranet:
    """The inventory side of the test network, with what each node should turn out to be."""

    nodes: dict[str, int] = field(default_factory=dict)
    up: set[int] = field(default_factory=set)
    down: set[int] = field(default_factory=set)
    lossy: set[int] = field(default_factory=set)
    devices: dict[str, int] = field(default_factory=dict)
    down_city: str = ""
    lost_county_city: str = ""
    expected: dict[str, int] = field(default_factory=dict)  # level -> nodes
    reachable: dict[str, int] = field(default_factory=dict)


def build_extranet(session: Session, inv: Inv) -> Extranet:
    """Province, 14 cities, 111 counties, townships; city 13 down, every county of city 14 down, 10 lossy townships."""
    seed_guangxi(session, inv.ctx)
    regions = list(session.scalars(select(Region).order_by(Region.code)))
    prov = next(r for r in regions if r.level.value == "region")
    cities = [r for r in regions if r.level.value == "city"]
    net = Extranet()

    def node(
        code: str, region_id: int, level: str, parent: int | None, address: str, kind: str, ports: str = "22"
    ) -> int:
        nid = inv.node(region_id, level, parent, code=code, address=address, tcp_ports=ports)
        net.nodes[code] = nid
        {"up": net.up, "down": net.down, "lossy": net.lossy}[kind].add(nid)
        net.expected[level] = net.expected.get(level, 0) + 1
        net.reachable[level] = net.reachable.get(level, 0) + (kind != "down")
        return nid

    top = node("GX", prov.id, "region", None, "172.20.0.1", "up")
    for c, city in enumerate(cities, start=1):
        city_down = c == 13
        cid = node(
            f"C{c}",
            city.id,
            "city",
            top,
            f"172.22.{c}.1" if city_down else f"172.20.{c}.1",
            "down" if city_down else "up",
        )
        if city_down:
            net.down_city = city.name
        counties = [r for r in regions if r.parent_id == city.id]
        for k, county in enumerate(counties, start=1):
            lost = c == 14
            kid = node(
                f"C{c}K{k}",
                county.id,
                "county",
                cid,
                f"172.22.{c}.{10 + k}" if lost else f"172.20.{c}.{10 + k}",
                "down" if lost else "up",
            )
            if lost:
                net.lost_county_city = city.name
            if c == 2 and k == 1:
                for t in range(1, 11):
                    town = inv.region("township", county.id, code=f"4502{t:08d}"[:12], name=f"乡镇{t}")
                    node(f"C2K1T{t}", town, "township", kid, f"172.21.30.{t}", "lossy", ports="")
    city1, city13 = cities[0].id, cities[12].id
    for i in range(6):  # horizontal access: 3 city-1 units through C1 (up), 2 city-13 units through C13 (down), 1 none
        unit = inv.unit(city13 if i in (3, 4) else city1, "city", name=f"测试单位{i}")
        if i < 5:
            inv.add("node_access", unit_id=unit, node_id=net.nodes["C1" if i < 3 else "C13"], status="connected")
    for code, (address, device_type, _cred) in DEVICES.items():
        net.devices[code] = inv.add(
            "devices",
            code=code,
            name=code,
            node_id=top,
            vendor=device_type,
            device_type=device_type,
            mgmt_address=address,
            ssh_port=22,
            credential_ref=f"vault:{_cred}",
        )
    session.flush()
    return net
