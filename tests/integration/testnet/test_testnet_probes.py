"""Real ICMP, TCP and SSH against the extranet test network: states, loss, coverage, facts, isolation."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select

from collectors.api import COLLECTOR_SERVICE
from collectors.models import DeviceCredential
from collectors.results import ProbeKind
from collectors.runner import CollectorService
from core.db import Database
from core.enums import Role
from core.models import ChangeLog
from core.wiring import services
from inventory.enums import NodeState
from inventory.models import ExtranetNode
from tests.builders import Inv
from tests.integration.testnet.extranet_plan import Extranet, build_extranet

pytestmark = [pytest.mark.integration, pytest.mark.network]


@pytest.fixture
def net(testnet: str, db: Database) -> Extranet:
    with db.session() as s:
        return build_extranet(s, Inv(s))


def svc(app: FastAPI) -> CollectorService:
    service: CollectorService = services(app).get(COLLECTOR_SERVICE)
    return service


def wait_for_job(client: TestClient, job_id: str, seconds: float = 120) -> Any:
    """Poll a probe-now job until it has finished; the last response."""
    deadline = time.monotonic() + seconds
    while True:
        r = client.get(f"/api/v1/collectors/probe-jobs/{job_id}")
        if r.json()["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def states(db: Database) -> dict[int, NodeState]:
    with db.session() as s:
        return dict(s.execute(select(ExtranetNode.id, ExtranetNode.state)).tuples().all())


def test_icmp_sweep_finds_exactly_the_up_and_down_nodes(app: FastAPI, db: Database, net: Extranet) -> None:
    summary = asyncio.run(svc(app).sweep(ProbeKind.ICMP))
    got = states(db)
    assert summary.targets == len(net.nodes)
    assert {n for n, s in got.items() if s == NodeState.DOWN} == net.down
    assert {n for n, s in got.items() if s == NodeState.UP} - net.lossy == net.up
    assert {got[n] for n in net.lossy} <= {NodeState.UP, NodeState.DEGRADED}  # per node: 20 packets at 30%
    assert all(r.vantage == "test-vantage" for r in summary.results)
    steady = (
        select(func.count())
        .select_from(ChangeLog)
        .where(ChangeLog.actor == "collector:test-vantage", ChangeLog.object_id.in_(net.up | net.down))
    )
    with db.session() as s:
        logged = s.scalar(steady)
    assert logged == len(net.up | net.down)  # unknown → up or down, once per node
    asyncio.run(svc(app).sweep(ProbeKind.ICMP))
    with db.session() as s:
        again = s.scalar(steady)
    assert again == logged  # identical probes write no change-log entries


def test_measured_loss_is_close_to_the_injected_30_percent(app: FastAPI, net: Extranet) -> None:
    summary = asyncio.run(svc(app).sweep(ProbeKind.ICMP, sorted(net.lossy | net.up)))
    lossy = [r for r in summary.results if r.node_id in net.lossy]
    sent = sum(r.sent for r in lossy)
    received = sum(r.received for r in lossy)
    assert sent == 200
    assert 0.18 <= 1 - received / sent <= 0.42  # 200 packets at 30%: ±0.12 is over 4 standard deviations
    clean = [r for r in summary.results if r.node_id in net.up]
    assert sum(r.sent - r.received for r in clean) <= len(clean) * 20 * 0.01
    rtts = [(r.rtt_min_seconds, r.rtt_avg_seconds, r.rtt_max_seconds) for r in clean]
    assert all(
        lo is not None and avg is not None and hi is not None and 0 < lo <= avg <= hi < 1 for lo, avg, hi in rtts
    )


def test_coverage_per_level_and_city_and_metrics(
    app: FastAPI, admin: TestClient, registry: CollectorRegistry, net: Extranet
) -> None:
    asyncio.run(svc(app).sweep(ProbeKind.ICMP))
    body = admin.get("/api/v1/collectors/coverage").json()
    overall = {c["level"]: (c["expected"], c["reachable"]) for c in body["coverage"] if c["city"] == ""}
    assert overall == {lv: (net.expected[lv], net.reachable[lv]) for lv in net.expected}
    assert overall["city"] == (14, 13) and overall["county"][0] == 111
    lost = next(c for c in body["coverage"] if c["level"] == "county" and c["city"] == net.lost_county_city)
    assert lost["reachable"] == 0 and lost["expected"] > 0
    # gap list: the one city whose node is down; every county of the lost city, grouped under it
    assert [(g["city"], len(g["areas"])) for g in body["gaps"]["city"]] == [(net.down_city, 1)]
    assert [(g["city"], len(g["areas"])) for g in body["gaps"]["county"]] == [(net.lost_county_city, lost["areas"])]
    assert "region" not in body["gaps"] and "township" not in body["gaps"]
    text = generate_latest(registry).decode()
    assert f'yunwang_node_up{{city="{net.down_city}",county="",level="city",node="C13"}} 0.0' in text
    assert 'yunwang_node_up{city="",county="",level="region",node="GX"} 1.0' in text
    assert f'yunwang_extranet_coverage_ratio{{city="{net.lost_county_city}",level="county"}} 0.0' in text
    assert "yunwang_node_loss_ratio{" in text and "yunwang_node_rtt_seconds{" in text
    down_cities = admin.get("/api/v1/collectors/nodes", params={"level": "city", "state": "down"}).json()
    assert [(n["code"], n["city"], n["vantage"]) for n in down_cities] == [("C13", net.down_city, "test-vantage")]
    gx = admin.get("/api/v1/collectors/nodes", params={"level": "region"}).json()[0]
    assert gx["state"] == "up" and gx["loss_ratio"] == 0 and gx["state_since"]
    av = {a["code"]: a for a in admin.get("/api/v1/collectors/availability").json()}
    assert (av["GX"]["1d"], av["C13"]["1d"], av["C13"]["30d"]) == (1.0, 0.0, 0.0)
    access = {a["level"]: (a["units"], a["connected_up"]) for a in body["horizontal_access"]}
    assert access == {"city": (6, 3), "all": (6, 3)}  # 3 units via C1 (up), 2 via C13 (down), 1 not connected
    assert 'yunwang_extranet_horizontal_access_live_ratio{level="city"} 0.5' in text


def test_tcp_ports_closed_port_degrades_and_silent_node_stays_down(
    app: FastAPI, db: Database, net: Extranet, admin: TestClient
) -> None:
    gx, c1, c13 = net.nodes["GX"], net.nodes["C1"], net.nodes["C13"]
    admin.patch(f"/api/v1/inventory/extranet_nodes/{c1}", json={"tcp_ports": "22,23"}).raise_for_status()
    asyncio.run(svc(app).sweep(ProbeKind.ICMP, [gx, c1, c13]))
    summary = asyncio.run(svc(app).sweep(ProbeKind.TCP, [gx, c1, c13]))
    by = {(r.node_id, r.port): r for r in summary.results}
    assert by[(gx, 22)].ok and by[(c1, 22)].ok
    assert by[(c1, 23)].error == "refused"
    assert by[(c13, 22)].error == "timeout"
    got = states(db)
    assert (got[gx], got[c1], got[c13]) == (NodeState.UP, NodeState.DEGRADED, NodeState.DOWN)


def _store_credentials(client: TestClient, password: str) -> None:
    for name, user in (("netops", "netops"), ("frr", "yw-netops")):
        r = client.put(f"/api/v1/collectors/credentials/{name}", json={"username": user, "password": password})
        assert r.status_code == 200, r.text


# SSH facts and every SSH failure reason: test_testnet_ssh.py


def test_device_password_never_appears_in_logs_metrics_api_or_database(
    app: FastAPI,
    db: Database,
    net: Extranet,
    testnet: str,
    client: TestClient,
    registry: CollectorRegistry,
    token_for: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    _store_credentials(client, testnet)
    seen = [client.get("/api/v1/collectors/credentials").text]
    posted = client.post("/api/v1/collectors/probe", json={"node_id": net.nodes["GX"], "kinds": ["icmp", "ssh"]})
    assert posted.status_code == 202
    probe = wait_for_job(client, posted.json()["job_id"])
    assert probe.json()["status"] == "succeeded"
    results = {r["device_id"]: r for s in probe.json()["sweeps"] for r in s["results"] if r["kind"] == "ssh"}
    assert results[net.devices["AUTHFAIL"]]["error"] == "auth_failed" and results[net.devices["HW"]]["ok"]
    seen += [probe.text, generate_latest(registry).decode(), caplog.text]
    for path in (
        "/api/v1/collectors/jobs",
        "/api/v1/collectors/nodes",
        "/api/v1/inventory/devices",
        "/api/v1/inventory/changes",
    ):
        seen.append(client.get(path).text)
    with db.session() as s:
        stored = [r.encrypted for r in s.scalars(select(DeviceCredential))]
        seen += stored
        seen += [str(row) for row in s.execute(select(ChangeLog.before, ChangeLog.after))]
    assert len(stored) == 2
    assert all(testnet not in text for text in seen)
    assert "password" not in probe.text.lower() or testnet not in probe.text


def test_probe_now_for_a_subtree_needs_network_admin(
    app: FastAPI, net: Extranet, client: TestClient, token_for: Callable[..., str]
) -> None:
    c2 = net.nodes["C2"]
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    assert client.post("/api/v1/collectors/probe", json={"node_id": c2, "subtree": True}).status_code == 403
    assert client.get("/api/v1/collectors/nodes").status_code == 200
    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    posted = client.post("/api/v1/collectors/probe", json={"node_id": c2, "subtree": True, "kinds": ["icmp"]})
    assert posted.status_code == 202
    r = wait_for_job(client, posted.json()["job_id"])
    assert r.json()["status"] == "succeeded" and r.json()["progress"]["done"] == 1
    expected = {nid for code, nid in net.nodes.items() if code == "C2" or code.startswith("C2K")}
    assert set(r.json()["node_ids"]) == expected
    assert {x["node_id"] for x in r.json()["sweeps"][0]["results"]} == expected
    jobs = {j["id"]: j for j in client.get("/api/v1/collectors/jobs").json()}
    assert jobs["probe-now:icmp"]["last_run"]["targets"] == len(expected)
    assert jobs["probe-now:icmp"]["last_run"]["trigger"] == "manual"
