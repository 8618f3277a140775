"""SNMP v2c and v3 authPriv against a real agent (Debian's snmpd) in a namespace behind the test network.

tests/env/testnet/snmp_up.sh: snmpd answers on 172.23.202.2; its interface `uplink0` (172.23.203.1) leads to
the namespace yw-snmp-peer, from which this test sends a known number of bytes between two polls.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from core.db import Database
from core.enums import Role
from core.models import ChangeLog
from tests.builders import Inv

pytestmark = [pytest.mark.integration, pytest.mark.network]
ENV_DIR = Path(__file__).resolve().parents[2] / "env" / "testnet"
AGENT = "172.23.202.2"
URL = "/api/v1/collectors"
DATAGRAMS, PAYLOAD = 2000, 1000
# what uplink0 receives per datagram: payload + UDP header 8 + IPv4 header 20 + Ethernet header 14 (veth has no FCS)
FRAME = PAYLOAD + 8 + 20 + 14
SENT_BYTES = DATAGRAMS * FRAME  # 2,084,000


@dataclass(frozen=True)
class Agent:
    community: str
    user: str
    auth: str
    priv: str


@pytest.fixture(scope="session")
def snmpd(testnet: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """The agent of tests/env/setup-25-snmpd.sh, or one started here (and stopped after) when run alone."""
    if os.environ.get("YUNWANG_TESTNET_SNMP_COMMUNITY"):
        yield Agent(*(os.environ[f"YUNWANG_TESTNET_SNMP_{k}"] for k in ("COMMUNITY", "USER", "AUTH", "PRIV")))
        return
    if not Path("/usr/sbin/snmpd").exists():
        pytest.fail("snmpd is installed by tests/env/setup-25-snmpd.sh (apt-get install snmpd snmp); it is missing")
    agent = Agent(
        "yw-" + secrets.token_hex(6), "ywpoller", "yw-auth-" + secrets.token_hex(6), "yw-priv-" + secrets.token_hex(6)
    )
    env = {**os.environ, "STATE": str(tmp_path_factory.mktemp("snmpd"))}
    subprocess.run(
        ["bash", str(ENV_DIR / "snmp_up.sh"), agent.community, agent.user, agent.auth, agent.priv],
        check=True,
        env=env,
        capture_output=True,
    )
    try:
        yield agent
    finally:
        subprocess.run(["bash", str(ENV_DIR / "snmp_down.sh")], env=env, capture_output=True)


def send_to_uplink(datagrams: int, payload: int) -> None:
    """UDP datagrams from yw-snmp-peer into uplink0, in batches the veth backlog takes without drops."""
    code = (
        "import socket, time\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for i in range({datagrams}):\n"
        f"    s.sendto(b'y' * {payload}, ('172.23.203.1', 9))\n"
        "    if i % 100 == 99: time.sleep(0.01)\n"
    )
    subprocess.run(["ip", "netns", "exec", "yw-snmp-peer", "python3", "-c", code], check=True)


def sweep(client: TestClient, node_ids: list[int]) -> dict[int, dict[str, Any]]:
    """One SNMP probe-now job per node, waited for; the interfaces per node after it."""
    for nid in node_ids:
        job = client.post(f"{URL}/probe", json={"node_id": nid, "kinds": ["snmp"]}).json()
        for _ in range(600):
            body = client.get(f"{URL}/probe-jobs/{job['job_id']}").json()
            if body["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.05)
        assert body["status"] == "succeeded", body
        assert body["sweeps"][0]["failures"] == 0, body["sweeps"][0]["results"]
    rows = client.get(f"{URL}/snmp/interfaces").json()
    return {nid: {r["name"]: r for r in rows if r["node_id"] == nid} for nid in node_ids}


def test_v2c_and_v3_poll_uplink_rates_that_match_the_bytes_sent(
    snmpd: Agent,
    db: Database,
    client: TestClient,
    registry: CollectorRegistry,
    token_for: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("YUNWANG_CRED_SNMP_V2_USERNAME", "snmp")
    monkeypatch.setenv("YUNWANG_CRED_SNMP_V2_PASSWORD", snmpd.community)  # v2c: the password is the community
    with db.session() as s:
        inv = Inv(s)
        region = inv.region("region")
        n2 = inv.node(region, code="SNMP-V2", address=AGENT)
        n3 = inv.node(region, code="SNMP-V3", address=AGENT)
        common = {"vendor": "net-snmp", "device_type": "linux", "mgmt_address": AGENT}
        d2 = inv.add("devices", code="AG-V2", name="agent v2c", node_id=n2, **common)
        d3 = inv.add("devices", code="AG-V3", name="agent v3", node_id=n3, **common)
    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    r = client.put(
        f"{URL}/credentials/snmpv3", json={"username": snmpd.user, "password": snmpd.auth, "secret": snmpd.priv}
    )
    assert r.status_code == 200
    v2 = {"version": "2c", "credential_ref": "env:YUNWANG_CRED_SNMP_V2", "uplinks": ["uplink0"]}
    v3 = {
        "version": "3",
        "credential_ref": "vault:snmpv3",
        "uplinks": ["uplink0"],
        "auth_protocol": "SHA",
        "priv_protocol": "AES",
    }
    assert client.put(f"{URL}/snmp/devices/{d2}", json=v2).status_code == 200
    assert client.put(f"{URL}/snmp/devices/{d3}", json=v3).status_code == 200
    bad = client.put(f"{URL}/snmp/devices/{d3}", json={**v3, "version": "1", "port": 0})
    assert bad.status_code == 422 and {d["field"] for d in bad.json()["error"]["details"]} == {"version", "port"}

    first = sweep(client, [n2, n3])
    for nid in (n2, n3):
        up = first[nid]["uplink0"]
        assert up["is_uplink"] and up["oper_up"] and up["speed_bps"] == 10_000_000_000  # veth: ifHighSpeed 10000
        assert up["in_bps"] is None  # one poll: no rate yet
    time.sleep(1)
    send_to_uplink(DATAGRAMS, PAYLOAD)
    time.sleep(6)  # past snmpd's interface cache, so the second poll reads fresh counters
    second = sweep(client, [n2, n3])
    for nid in (n2, n3):
        up = second[nid]["uplink0"]
        seconds = (
            datetime.fromisoformat(up["sampled_at"]) - datetime.fromisoformat(first[nid]["uplink0"]["sampled_at"])
        ).total_seconds()
        assert up["in_bps"] > 0 and up["out_bps"] >= 0
        # the rate times the time between the two polls gives back the octets uplink0 received in between:
        # the 2,084,000 sent, plus at most a few ARP frames (42 bytes each); nothing else crosses that link
        received = up["in_bps"] * seconds / 8
        assert SENT_BYTES <= round(received) <= SENT_BYTES + 2_000, (received, seconds)
        assert up["utilisation"] == pytest.approx(max(up["in_bps"], up["out_bps"]) / 10_000_000_000)
        assert 0 < up["utilisation"] < 0.01
        assert up["in_errors"] == 0 and up["in_discards"] == 0
    both = {u["node_code"]: u for u in client.get(f"{URL}/snmp/uplinks").json()}
    assert set(both) == {"SNMP-V2", "SNMP-V3"}
    assert both["SNMP-V2"]["in_bps"] == second[n2]["uplink0"]["in_bps"] and both["SNMP-V2"]["interfaces"] == 1
    metrics = generate_latest(registry).decode()
    assert 'yunwang_node_uplink_bits_per_second{direction="in",node="SNMP-V3"}' in metrics
    assert 'yunwang_snmp_up{device="AG-V2",node="SNMP-V2"} 1.0' in metrics
    assert (
        'yunwang_interface_errors_total{device="AG-V3",direction="in",interface="uplink0",node="SNMP-V3"} 0.0'
        in metrics
    )
    with db.session() as s:
        logged = [c.after for c in s.query(ChangeLog).filter(ChangeLog.kind == "snmp_devices")]
    assert len(logged) == 2
    seen = [metrics, caplog.text, str(logged), client.get(f"{URL}/snmp/devices").text, client.get(f"{URL}/jobs").text]
    seen += [client.get(f"{URL}/probe-jobs").text]
    for secret in (snmpd.community, snmpd.auth, snmpd.priv):
        assert all(secret not in text for text in seen)


def test_wrong_v3_key_is_auth_failed_and_wrong_community_a_timeout(
    snmpd: Agent, db: Database, client: TestClient, token_for: Callable[..., str]
) -> None:
    with db.session() as s:
        inv = Inv(s)
        nid = inv.node(inv.region("region"), code="SNMP-BAD", address=AGENT)
        common = {"vendor": "net-snmp", "device_type": "linux", "mgmt_address": AGENT, "node_id": nid}
        d1 = inv.add("devices", code="BAD-V3", name="bad v3", **common)
        d2 = inv.add("devices", code="BAD-V2", name="bad v2c", **common)
    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    client.put(
        f"{URL}/credentials/wrongv3",
        json={"username": snmpd.user, "password": "not-the-auth-key", "secret": snmpd.priv},
    )
    client.put(f"{URL}/credentials/wrongv2", json={"username": "snmp", "password": "not-the-community"})
    client.put(f"{URL}/snmp/devices/{d1}", json={"version": "3", "credential_ref": "vault:wrongv3"})
    client.put(f"{URL}/snmp/devices/{d2}", json={"version": "2c", "credential_ref": "vault:wrongv2"})
    job = client.post(f"{URL}/probe", json={"node_id": nid, "kinds": ["snmp"]}).json()
    for _ in range(600):
        body = client.get(f"{URL}/probe-jobs/{job['job_id']}").json()
        if body["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    errors = {r["device_id"]: r["error"] for r in body["sweeps"][0]["results"]}
    assert errors == {d1: "auth_failed", d2: "timeout"}
