"""Real SSH in the extranet test network: every failure reason through the device simulator and the real
FRR/sshd router, stale facts, host keys trusted on first use, GBK, and no leak from devices that hang.

The simulator is this checkout's tests/env/testnet/devicesim.py, started here inside the yw-net namespace on a
port of its own (so a restart gives it a new host key); FRR's sshd is the one the test network runs.
Traffic goes only to 172.23.0.0/16 inside the test namespaces.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr
from sqlalchemy import select, update
from typer.testing import CliRunner

from collectors import ssh
from collectors.api import COLLECTOR_SERVICE
from collectors.credentials import Credential
from collectors.devices_cli import make_app as devices_cli
from collectors.models import DeviceCollectStatus
from collectors.results import ProbeKind
from collectors.runner import CollectorService
from core.db import Database
from core.enums import Role
from core.wiring import services
from inventory.models import Device
from tests.builders import Inv

# `alone`: SSH logins to the simulated devices carry netmiko's timeouts; beside two other tests on 2 cores the
# Huawei login timed out as an authentication failure (CI 2026-12-02), so these run after the others, on their own.
pytestmark = [pytest.mark.integration, pytest.mark.network, pytest.mark.alone]
SIM = Path(__file__).resolve().parents[2] / "env" / "testnet" / "devicesim.py"
FRR = "172.23.200.2"
DEVICES = {  # code: (address, device_type, credential) — personas by address, see devicesim.py
    "HW": ("172.23.1.1", "huawei", "netops"),
    "H3C": ("172.23.2.1", "hp_comware", "netops"),
    "CS": ("172.23.3.1", "cisco_ios", "netops"),
    "RJ": ("172.23.4.1", "ruijie_os", "netops"),
    "ZTE": ("172.23.5.1", "zte_zxros", "netops"),
    "SLOW": ("172.23.9.1", "huawei", "netops"),
    "GARBLED": ("172.23.9.2", "huawei", "netops"),
    "AUTHFAIL": ("172.23.9.3", "huawei", "netops"),
    "HANG": ("172.23.9.4", "huawei", "netops"),
    "PAGING": ("172.23.9.5", "huawei", "netops"),
    "GBK": ("172.23.9.6", "huawei", "netops"),
    "CHATTY": ("172.23.9.7", "huawei", "netops"),
    "MANY": ("172.23.9.8", "huawei", "netops"),
    "FRR": (FRR, "cisco_ios", "frr"),
}


class DeviceSim:
    """This checkout's simulator in the yw-net namespace; `restart()` gives it a new host key."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.port = random.randint(20000, 29999)
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        cmd = ["ip", "netns", "exec", "yw-net", sys.executable, str(SIM), "--port", str(self.port)]
        cmd += ["--password", self.password, "--slow-seconds", "30"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening" in line, line

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def sim(testnet: str) -> Iterator[DeviceSim]:
    s = DeviceSim(testnet)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@dataclass
class Net:
    node: int
    devices: dict[str, int]


@pytest.fixture
def net(sim: DeviceSim, db: Database) -> Net:
    with db.session() as s:
        inv = Inv(s)
        ids = inv.basic()
        node = inv.node(ids["region"], code="GX", address="172.20.0.1")
        devices = {
            code: inv.add(
                "devices",
                code=code,
                name=code,
                node_id=node,
                vendor=device_type,
                device_type=device_type,
                mgmt_address=address,
                ssh_port=22 if address == FRR else sim.port,
                credential_ref=f"vault:{cred}",
            )
            for code, (address, device_type, cred) in DEVICES.items()
        }
        return Net(node, devices)


def svc(app: FastAPI) -> CollectorService:
    service: CollectorService = services(app).get(COLLECTOR_SERVICE)
    return service


@pytest.fixture
def netadmin(client: TestClient, token_for: Callable[..., str], testnet: str) -> TestClient:
    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    for name, user in (("netops", "netops"), ("frr", "yw-netops")):
        r = client.put(f"/api/v1/collectors/credentials/{name}", json={"username": user, "password": testnet})
        assert r.status_code == 200, r.text
    return client


def facts_of(db: Database) -> dict[str, dict | None]:  # type: ignore[type-arg]
    with db.session() as s:
        return {d.code: d.facts for d in s.scalars(select(Device))}


def test_every_failure_reason_and_complete_facts_after_a_sweep(
    app: FastAPI, db: Database, net: Net, netadmin: TestClient, registry: CollectorRegistry
) -> None:
    summary = asyncio.run(svc(app).sweep(ProbeKind.SSH))
    by = {r.device_id: r for r in summary.results}
    errors = {code: (e.value if (e := by[did].error) else None) for code, did in net.devices.items()}
    assert errors == {
        "HW": None,
        "H3C": None,
        "CS": None,
        "RJ": None,
        "ZTE": None,
        "FRR": None,
        "SLOW": "timeout",
        "GARBLED": "parse_error",
        "AUTHFAIL": "auth_failed",
        "HANG": "timeout",
        "PAGING": "paging_not_disabled",
        "GBK": None,
        "CHATTY": None,
        "MANY": None,
    }
    f = facts_of(db)
    hw = f["HW"]
    assert hw is not None
    assert (hw["vendor"], hw["model"], hw["version"], hw["release"]) == (
        "Huawei",
        "S5720-28X-SI-AC",
        "5.170",
        "V200R019C10SPC500",
    )
    assert [s["serial"] for s in hw["serials"]] == ["2102350DLL10K9000123", "2102350DLL10K9000456"]
    assert hw["cpu"] == {"percent": 11.0, "period_seconds": 300} and hw["memory"]["percent"] == 32.0
    assert hw["interfaces_by_physical"] == {"admin_down": 1, "up": 4} and hw["uptime_seconds"] >= 0
    assert f["H3C"]["release"] == "0821P11" and len(f["H3C"]["serials"]) == 2  # type: ignore[index]
    assert [s["serial"] for s in f["CS"]["serials"]] == ["FDO1633Q14S", "FDO1712R0AB"]  # type: ignore[index]
    assert f["RJ"]["model"] == "S6000C-48GT4XS-E" and f["ZTE"]["cpu"]["period_seconds"] == 120  # type: ignore[index]
    assert f["FRR"]["vendor"] == "FRRouting" and f["FRR"]["hostname"] == "ywr1"  # type: ignore[index]
    assert {i["name"] for i in f["FRR"]["interfaces"]} >= {"lo", "mgmt0"}  # type: ignore[index]
    assert f["GBK"]["hostname"] == "南宁核心-6" and f["GBK"]["encoding"] == "gbk"  # type: ignore[index]
    assert f["CHATTY"]["interfaces_total"] == 5 and f["CHATTY"]["serials"]  # type: ignore[index]
    assert f["MANY"]["interfaces_total"] == 1200 and f["MANY"]["interfaces_by_physical"] == {"down": 300, "up": 900}  # type: ignore[index]
    for code in ("SLOW", "GARBLED", "AUTHFAIL", "HANG", "PAGING"):
        assert f[code] is None

    # the failures are visible: API, CLI and metrics
    rows = {d["code"]: d for d in netadmin.get("/api/v1/collectors/devices").json()}
    assert {c for c, d in rows.items() if d["status"] == "failing"} == {"SLOW", "GARBLED", "AUTHFAIL", "HANG", "PAGING"}
    assert rows["PAGING"]["last_error"] == "paging_not_disabled" and rows["HW"]["last_success_at"].endswith("+00:00")
    assert rows["GBK"]["encoding"] == "gbk" and rows["HW"]["host_key_fingerprint"].startswith("SHA256:")
    one = netadmin.get(f"/api/v1/collectors/devices/{net.devices['PAGING']}").json()
    assert one["last_error_excerpt"].rstrip().endswith("---- More ----")
    garbled = netadmin.get(f"/api/v1/collectors/devices/{net.devices['GARBLED']}").json()
    assert "%%%%" in garbled["last_error_excerpt"]
    text = generate_latest(registry).decode()
    assert 'yunwang_device_collect_errors_total{reason="timeout"} 2.0' in text
    assert 'yunwang_device_collect_errors_total{reason="parse_error"} 1.0' in text
    assert 'yunwang_device_collect_errors_total{reason="paging_not_disabled"} 1.0' in text
    assert 'yunwang_device_collect_errors_total{reason="auth_failed"} 1.0' in text
    assert 'yunwang_device_collect_failing{device="PAGING",node="GX"} 1.0' in text
    assert 'yunwang_device_facts_age_seconds{device="HW",node="GX"}' in text
    out = CliRunner(env={"COLUMNS": "250"}).invoke(devices_cli(lambda: Database(db.url)), ["status", "--failing"])
    assert out.exit_code == 1 and "paging_not_disabled" in out.output and "HW " not in out.output


def test_a_parse_error_keeps_the_previous_facts_marked_stale(
    app: FastAPI, db: Database, net: Net, netadmin: TestClient
) -> None:
    hw = net.devices["HW"]
    asyncio.run(svc(app).sweep(ProbeKind.SSH, [net.node]))
    good = facts_of(db)["HW"]
    assert good is not None and good["interfaces_total"] == 5
    # the device now answers with output no template reads (the garbled persona at another address)
    r = netadmin.patch(f"/api/v1/inventory/devices/{hw}", json={"mgmt_address": "172.23.9.2"})
    assert r.status_code == 200, r.text
    summary = asyncio.run(svc(app).sweep(ProbeKind.SSH, [net.node]))
    assert next(x for x in summary.results if x.device_id == hw).error == "parse_error"
    assert facts_of(db)["HW"] == good  # never replaced by an empty result
    row = netadmin.get(f"/api/v1/collectors/devices/{hw}").json()
    assert (row["status"], row["last_error"], row["facts_stale"]) == ("failing", "parse_error", True)
    assert row["facts"] == good and row["last_error_excerpt"]


def test_host_keys_are_trusted_on_first_use_and_a_changed_key_is_refused(
    app: FastAPI, db: Database, net: Net, sim: DeviceSim, netadmin: TestClient
) -> None:
    first = asyncio.run(svc(app).sweep(ProbeKind.SSH, [net.node]))
    assert next(r for r in first.results if r.device_id == net.devices["HW"]).ok
    state = os.environ.get("YUNWANG_TESTNET_STATE")
    with db.session() as s:
        keys = dict(s.execute(select(DeviceCollectStatus.device_id, DeviceCollectStatus.host_key)).tuples().all())
    if state and Path(state, "sshd", "hostkey.pub").exists():  # FRR's sshd: the key we trusted is its key
        assert keys[net.devices["FRR"]] == " ".join(Path(state, "sshd", "hostkey.pub").read_text().split()[:2])
    sim.restart()  # same devices, new host key
    second = asyncio.run(svc(app).sweep(ProbeKind.SSH, [net.node]))
    by = {r.device_id: r for r in second.results}
    assert by[net.devices["HW"]].error == "host_key_changed" and by[net.devices["H3C"]].error == "host_key_changed"
    assert by[net.devices["FRR"]].ok  # its key did not change
    with db.session() as s:
        assert s.get(DeviceCollectStatus, net.devices["HW"]).host_key == keys[net.devices["HW"]]  # type: ignore[union-attr]
    # the real sshd too: a different stored key is refused before the password is sent
    with db.session() as s:
        s.execute(
            update(DeviceCollectStatus)
            .where(DeviceCollectStatus.device_id == net.devices["FRR"])
            .values(host_key=keys[net.devices["HW"]])
        )
    third = asyncio.run(svc(app).sweep(ProbeKind.SSH, [net.node]))
    assert next(r for r in third.results if r.device_id == net.devices["FRR"]).error == "host_key_changed"
    # an operator accepts the new key of HW: cleared (audited), then trusted again on the next session
    assert netadmin.delete(f"/api/v1/collectors/devices/{net.devices['HW']}/host-key").status_code == 200
    fourth = asyncio.run(svc(app).sweep(ProbeKind.SSH, [net.node]))
    assert next(r for r in fourth.results if r.device_id == net.devices["HW"]).ok
    changes = netadmin.get(f"/api/v1/inventory/devices/{net.devices['HW']}/changes").json()["items"]
    assert any(c["after"] == {"host_key_fingerprint": None} for c in changes)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_device_that_hangs_after_login_leaks_nothing_after_100_probes(sim: DeviceSim, testnet: str) -> None:
    cred = Credential("netops", SecretStr(testnet))
    opts = ssh.SshOptions(timeout_seconds=1.0, concurrency=25, retries=0)
    hang = ssh.SshTarget("172.23.9.4", "huawei", sim.port)
    # warm up (imports, lazily created module state), then take the baseline
    asyncio.run(ssh.collect_many([hang], lambda t: cred, opts))
    gc.collect()
    fds, threads = _fds(), threading.active_count()
    results = asyncio.run(ssh.collect_many([hang] * 100, lambda t: cred, opts))
    assert [r.error for r in results] == ["timeout"] * 100
    deadline = time.monotonic() + 10
    while (_fds() > fds or threading.active_count() > threads) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.2)
    assert (_fds(), threading.active_count()) == (fds, threads)


def test_failures_against_the_real_frr_sshd_router(
    app: FastAPI, db: Database, netadmin: TestClient, registry: CollectorRegistry
) -> None:
    r = netadmin.put("/api/v1/collectors/credentials/frr-wrong", json={"username": "yw-netops", "password": "nope-1"})
    assert r.status_code == 200
    with db.session() as s:
        inv = Inv(s)
        node = inv.node(inv.basic()["region"], code="R1", address=FRR)
        cases = {  # code: (device_type, credential)
            "R1": ("cisco_ios", "frr"),
            "R1-BADPW": ("cisco_ios", "frr-wrong"),
            "R1-AS-ZTE": ("zte_zxros", "frr"),  # answers `show version`, but not in ZTE's layout
            "R1-AS-VRP": ("huawei", "frr"),  # never shows a VRP prompt
        }
        ids = {
            code: inv.add(
                "devices",
                code=code,
                name=code,
                node_id=node,
                vendor=t,
                device_type=t,
                mgmt_address=FRR,
                ssh_port=22,
                credential_ref=f"vault:{cred}",
            )
            for code, (t, cred) in cases.items()
        }
    summary = asyncio.run(svc(app).sweep(ProbeKind.SSH, [node]))
    by = {r.device_id: r for r in summary.results}
    got = {code: (e.value if (e := by[i].error) else None) for code, i in ids.items()}
    assert got == {"R1": None, "R1-BADPW": "auth_failed", "R1-AS-ZTE": "parse_error", "R1-AS-VRP": "timeout"}
    rows = {d["code"]: d for d in netadmin.get("/api/v1/collectors/devices", params={"node_id": node}).json()}
    assert rows["R1-AS-ZTE"]["last_error_detail"] == "unparseable output of show version (no rows)"
    excerpt = netadmin.get(f"/api/v1/collectors/devices/{ids['R1-AS-ZTE']}").json()["last_error_excerpt"]
    assert excerpt.startswith("FRRouting ")
    assert rows["R1"]["status"] == "ok" and rows["R1"]["facts_age_seconds"] < 60
    text = generate_latest(registry).decode()
    assert 'yunwang_device_collect_errors_total{reason="auth_failed"} 1.0' in text
    assert 'yunwang_device_collect_failing{device="R1-BADPW",node="R1"} 1.0' in text
