"""Probe addresses and ports of extranet nodes and devices are validated on every write path."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from collectors.results import ProbeKind
from collectors.runner import CollectorConfig, CollectorService
from core.db import Database
from core.models import ChangeLog
from inventory.addresses import BAD_HOST, BAD_PORT, is_host, port_list_problem
from inventory.enums import NodeState
from inventory.models import Device, ExtranetNode
from tests.builders import Inv

API = "/api/v1/inventory"


@pytest.mark.parametrize(
    "value",
    ["172.20.0.1", "2001:db8::1", "::1", "fe80::1%eth0", "localhost", "core-r1.nn.gxzf.gov.cn", "r1.example."],
)
def test_addresses_and_host_names_accepted(value: str) -> None:
    assert is_host(value)


@pytest.mark.parametrize(
    "value",
    [
        "300.1.1.1",
        "172.20.0",
        "1.2.3.4.5",
        "2001:db8::g",
        "bad_name",
        "-r1.example",
        "a..b",
        "有 空格",
        "a" * 64,
        "0x7f000001",  # inet_aton would read these as 127.0.0.1: addresses in disguise, not names
        "017700000001",
        "127.1",
        "0x7f.1",
    ],
)
def test_malformed_addresses_refused(value: str) -> None:
    assert not is_host(value)


@pytest.fixture
def world(db: Database) -> dict[str, int]:
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        b["node"] = inv.node(b["region"], code="N-1", address="127.0.0.1", tcp_ports="22")
        b["device"] = inv.add(
            "devices",
            code="D-1",
            name="R1",
            node_id=b["node"],
            vendor="huawei",
            device_type="huawei",
            mgmt_address="127.0.0.2",
        )
    return b


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(m)) or 0 for m in (ExtranetNode, Device, ChangeLog)
        )


def refused(resp: Any, field: str, message: str) -> None:
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "validation_failed"
    # the import names row and column between the Chinese and the English half: both halves must be there
    zh, en = message.split(" / ")
    assert any(
        (d.get("field") or "").endswith(field) and zh in d["message"] and en in d["message"] for d in err["details"]
    ), err


def test_api_refuses_bad_addresses_and_ports_and_writes_nothing(
    admin: TestClient, db: Database, world: dict[str, int]
) -> None:
    before = counts(db)
    node = {"code": "N-2", "name": "节点", "level": "region", "region_id": world["region"]}
    refused(admin.post(f"{API}/extranet_nodes", json={**node, "address": "172.20.0.300"}), "address", BAD_HOST)
    refused(admin.post(f"{API}/extranet_nodes", json={**node, "tcp_ports": "22,65536"}), "tcp_ports", BAD_PORT)
    refused(admin.post(f"{API}/extranet_nodes", json={**node, "tcp_ports": "22;ssh"}), "tcp_ports", BAD_PORT)
    refused(admin.patch(f"{API}/extranet_nodes/{world['node']}", json={"address": "bad_name"}), "address", BAD_HOST)
    refused(admin.patch(f"{API}/devices/{world['device']}", json={"ssh_port": 0}), "ssh_port", BAD_PORT)
    refused(admin.patch(f"{API}/devices/{world['device']}", json={"ssh_port": 70000}), "ssh_port", BAD_PORT)
    refused(admin.patch(f"{API}/devices/{world['device']}", json={"mgmt_address": "1.2.3"}), "mgmt_address", BAD_HOST)
    bulk = [{**node, "address": "127.0.0.5"}, {**node, "code": "N-3", "address": "2001:db8::zz"}]
    refused(admin.post(f"{API}/extranet_nodes/bulk", json={"create": bulk}), "create[1].address", BAD_HOST)
    assert counts(db) == before
    with db.session() as s:
        assert s.get(ExtranetNode, world["node"]).address == "127.0.0.1"  # type: ignore[union-attr]
        assert s.get(Device, world["device"]).ssh_port == 22  # type: ignore[union-attr]


def test_api_accepts_ipv6_and_host_names(admin: TestClient, world: dict[str, int]) -> None:
    node = {"code": "N-6", "name": "节点", "level": "region", "region_id": world["region"], "tcp_ports": "22;443"}
    assert admin.post(f"{API}/extranet_nodes", json={**node, "address": "2001:db8::1"}).status_code == 201
    r = admin.patch(f"{API}/devices/{world['device']}", json={"mgmt_address": "r1.nn.example", "ssh_port": 65535})
    assert r.status_code == 200, r.text


def test_import_refuses_a_bad_address_naming_row_and_field(
    admin: TestClient, db: Database, world: dict[str, int]
) -> None:
    before = counts(db)
    csv = "节点编码,节点名称,层级,所在区划代码,探测地址,探测端口\nN-7,甲,region,450000,127.0.0.7,22\nN-8,乙,region,450000,127.0.0.256,22\n"
    r = admin.post(f"{API}/extranet_nodes/import", files={"file": ("n.csv", csv.encode(), "text/csv")})
    refused(r, "address", BAD_HOST)
    # spreadsheet row 3 (the header is row 1)
    assert any(d.get("row") == 3 for d in r.json()["error"]["details"] if d.get("field") == "address")
    assert counts(db) == before


def test_a_bad_address_already_stored_is_not_probed_and_not_called_down(db: Database, tmp_path: Any) -> None:
    """Rows written before validation existed: the sweep reports bad_target and leaves the state alone."""
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        nid = inv.node(b["region"], code="N-OLD", address="127.0.0.1", tcp_ports="22")
        s.execute(update(ExtranetNode).where(ExtranetNode.id == nid).values(address="127.0.0.1 ; rm"))
    svc = CollectorService(db, CollectorConfig(data_dir=tmp_path))
    for kind in (ProbeKind.ICMP, ProbeKind.TCP):
        summary = asyncio.run(svc.sweep(kind, [nid]))
        assert [(r.ok, r.error) for r in summary.results] == [(False, "bad_target")]
        assert summary.state_changes == []
    with db.session() as s:
        assert s.get(ExtranetNode, nid).state == NodeState.UNKNOWN  # type: ignore[union-attr]


@pytest.mark.parametrize("spec", ["１２", "0443", "22,０22", "22;+443"])
def test_port_lists_take_plain_ascii_ports_only(spec: str) -> None:
    assert port_list_problem(spec) is not None


def test_port_lists_accept_plain_ports() -> None:
    assert port_list_problem("22, 443;8443") is None
