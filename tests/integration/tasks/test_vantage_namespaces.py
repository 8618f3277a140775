"""Distributed probing across network namespaces (root): two `yunwang worker --vantage` processes, each inside a
namespace that holds only its own part of the test network (tests/integration/tasks/vantage_net.py), reach the
database (a SQLite file) and the broker (a unix-socket bridge) through the filesystem. Each worker probes only its own
targets: what vantage a sees up, vantage b (which has no route to it) sees down; a node of no vantage waits on the
central queue."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from collectors.models import ProbeRecord, SnmpDevice, SnmpInterface
from collectors.results import ProbeKind
from collectors.vantage_status import report
from core.db import Database
from core.tasks.backends import Tasks
from core.tasks.celery_app import CeleryBackend
from core.tasks.models import TaskStatus
from core.times import now_utc
from inventory.models import Device
from orchestrator.app.collectors_wiring import submit_sweeps
from tests.builders import Inv
from tests.integration.tasks.conftest import Engine, broker_url, stop_workers, worker_process
from tests.integration.tasks.vantage_net import vantage_net

FAST_ICMP = {
    "YUNWANG_COLLECTOR_ICMP_COUNT": "3",
    "YUNWANG_COLLECTOR_ICMP_PACKET_INTERVAL_SECONDS": "0.05",
    "YUNWANG_COLLECTOR_ICMP_TIMEOUT_SECONDS": "1.0",
    "YUNWANG_COLLECTOR_RETRIES": "0",
}


def records(db: Database) -> set[tuple[int | None, str, bool]]:
    with db.read_session() as s:
        return {(n, v, ok) for n, v, ok in s.execute(select(ProbeRecord.node_id, ProbeRecord.vantage, ProbeRecord.ok))}


def test_two_vantage_workers_in_namespaces_probe_only_their_own_part(db: Database, tmp_path: Path) -> None:
    url = broker_url()
    sfx = uuid.uuid4().hex[:4]
    a, b = f"a{sfx}", f"b{sfx}"
    assigned = {a: ("NN",), b: ("LZ",)}
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region", code="450000", name="广西壮族自治区")
        gx = inv.node(r, code="GX", address="198.18.0.1")  # in no namespace, of no vantage
        nanning = inv.node(r, "city", gx, code="NN", address="198.18.1.1")
        xingning = inv.node(r, "county", nanning, code="NN-XN", address="198.18.1.2")
        liuzhou = inv.node(r, "city", gx, code="LZ", address="198.18.2.1")
        liubei = inv.node(r, "county", liuzhou, code="LZ-LB", address="198.18.2.2")
    celery = CeleryBackend(url)
    e = Engine("celery", db, Tasks(db, celery), "unused")
    queues = ("probe", f"probe.{a}", f"probe.{b}")
    try:
        with vantage_net(tmp_path, url) as net:
            net.add(a, ["198.18.1.1", "198.18.1.2"])  # the Nanning part of the network
            net.add(b, ["198.18.2.1", "198.18.2.2"])  # the Liuzhou part
            for v in (a, b):
                env = {"YUNWANG_COLLECTOR_VANTAGE": v, **FAST_ICMP}
                e.workers.append(worker_process(db, url, None, tmp_path, ["--vantage", v], env, net.prefix(v)))
            try:
                # 1. as assigned: Nanning's subtree to a, Liuzhou's to b
                outcome = submit_sweeps(db, e.tasks, assigned, ProbeKind.ICMP)
                assert outcome.targets == 5  # by hand: NN, NN-XN → a; LZ, LZ-LB → b; GX → the central queue
                first = {j["queue"]: j["id"] for j in e.tasks.recent()}
                assert sorted(first) == sorted(queues)
                done = {q: e.wait(first[q], timeout=120) for q in queues[1:]}
                assert {q: (j.status, j.result["probed_by"], j.result["targets"]) for q, j in done.items()} == {  # type: ignore[index]
                    f"probe.{a}": (TaskStatus.SUCCEEDED, a, 2),
                    f"probe.{b}": (TaskStatus.SUCCEEDED, b, 2),
                }
                assert e.row(first["probe"]).status == TaskStatus.QUEUED  # no central worker: GX waits for one
                with db.read_session() as s:
                    rows = report(s, assigned, "icmp", 60, now_utc())
                assert [(r.vantage, r.nodes, r.probed, r.up, r.down, r.stale) for r in rows] == [
                    (a, 2, 2, 2, 0, False),
                    (b, 2, 2, 2, 0, False),
                    (None, 1, 0, 0, 0, True),  # GX waits on the central queue: never probed
                ]  # the per-vantage report (GET /api/v1/collectors/vantages) of what the workers wrote
                assert records(db) == {
                    (nanning, a, True),
                    (xingning, a, True),
                    (liuzhou, b, True),
                    (liubei, b, True),
                }  # 4 results, each from its own vantage; GX not probed by either
                # 2. the same nodes probed from the other side: nobody there can reach them
                submit_sweeps(db, e.tasks, {a: ("LZ",), b: ("NN",)}, ProbeKind.ICMP)
                second = {j["queue"]: j["id"] for j in e.tasks.recent() if j["id"] not in first.values()}
                swapped = {q: e.wait(second[q], timeout=120) for q in queues[1:]}
                assert {q: (j.status, j.result["probed_by"], j.result["targets"]) for q, j in swapped.items()} == {  # type: ignore[index]
                    f"probe.{a}": (TaskStatus.SUCCEEDED, a, 2),
                    f"probe.{b}": (TaskStatus.SUCCEEDED, b, 2),
                }
                assert records(db) - {
                    (nanning, a, True),
                    (xingning, a, True),
                    (liuzhou, b, True),
                    (liubei, b, True),
                } == {
                    (liuzhou, a, False),
                    (liubei, a, False),
                    (nanning, b, False),
                    (xingning, b, False),
                }  # by hand: 4 more results, all down: a has no route to Liuzhou's part, b none to Nanning's
                # 3. b's worker stops: a keeps probing, b goes stale (no result within 3 intervals of 2 s)
                stop_workers(e.workers[1:])
                time.sleep(6.5)
                before = {j["id"] for j in e.tasks.recent()}
                submit_sweeps(db, e.tasks, assigned, ProbeKind.ICMP)
                third = {j["queue"]: j["id"] for j in e.tasks.recent() if j["id"] not in before}
                assert e.wait(third[f"probe.{a}"], timeout=120).status == TaskStatus.SUCCEEDED
                assert e.row(third[f"probe.{b}"]).status == TaskStatus.QUEUED  # nobody consumes probe.b now
                with db.read_session() as s:
                    rows = report(s, assigned, "icmp", 2, now_utc())
                assert [(r.vantage, r.nodes, r.probed, r.up, r.down, r.stale) for r in rows] == [
                    (a, 2, 2, 2, 0, False),  # by hand: NN, NN-XN just probed from a, both up
                    (b, 2, 0, 0, 0, True),  # LZ, LZ-LB: b's last results are > 6 s old
                    (None, 1, 0, 0, 0, True),  # GX: never probed (no central worker)
                ]
            finally:
                stop_workers(e.workers)
    finally:
        with celery.app.connection_for_write() as conn:
            for q in queues:
                conn.default_channel.queue_delete(q)
        celery.stop()


SIM = Path(__file__).resolve().parents[2] / "env" / "testnet" / "devicesim.py"


def start_devicesim(prefix: list[str], bind: str, password: str, tmp: Path) -> subprocess.Popen[str]:
    """tests/env/testnet/devicesim.py on `bind`:22 inside a namespace."""
    cmd = [*prefix, sys.executable, str(SIM), "--port", "22", "--bind", bind, "--password", password]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    if "listening" not in line:
        p.kill()
        p.wait(10)
        raise AssertionError(f"devicesim did not start: {line}")
    return p


def start_snmpd(prefix: list[str], bind: str, community: str, tmp: Path) -> subprocess.Popen[bytes]:
    """Debian's snmpd in the foreground on udp `bind`:161 inside a namespace (v2c, read-only, no MIB files)."""
    conf = tmp / f"snmpd-{bind}.conf"
    conf.write_text(f"rocommunity {community} 198.18.0.0/15\nsysLocation yunwang vantage test\n")
    conf.chmod(0o600)
    persist = tmp / f"snmpd-{bind}"
    persist.mkdir()
    cmd = [*prefix, "env", f"SNMP_PERSISTENT_DIR={persist}", "/usr/sbin/snmpd", "-f", "-m", "", "-C", "-c", str(conf)]
    cmd += ["-Lf", str(persist / "snmpd.log"), f"udp:{bind}:161"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(0.5)
    assert p.poll() is None, (persist / "snmpd.log").read_text()
    return p


def test_ssh_and_snmp_collection_are_routed_to_each_vantage(db: Database, tmp_path: Path) -> None:
    """SSH and SNMP collection sweeps go to the vantage of the device's node like ICMP: each worker logs in to
    the simulated device (and polls the SNMP agent at the same address) in its own namespace; from the other
    vantage the same device fails."""
    url = broker_url()
    sfx = uuid.uuid4().hex[:4]
    a, b = f"a{sfx}", f"b{sfx}"
    # devicesim picks its persona by the third octet (2-5, 9: other vendors): 1 and 6 are Huawei VRP
    password = "Yw-v4ntage-" + secrets.token_hex(4)
    community = "ywv" + secrets.token_hex(6)
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region", code="450000", name="广西壮族自治区")
        gx = inv.node(r, code="GX", address="198.18.0.1")
        nanning = inv.node(r, "city", gx, code="NN", address="198.18.1.1")
        liuzhou = inv.node(r, "city", gx, code="LZ", address="198.18.6.1")
        dev = {
            code: inv.add(
                "devices",
                code=code,
                name=code,
                node_id=node,
                vendor="huawei",
                device_type="huawei",
                mgmt_address=address,
                ssh_port=22,
                credential_ref="env:YUNWANG_CRED_YWV",
            )
            for code, node, address in (("NN-SW", nanning, "198.18.1.3"), ("LZ-SW", liuzhou, "198.18.6.3"))
        }
        for did in dev.values():  # the same devices answer SNMP v2c on their management address
            s.add(
                SnmpDevice(device_id=did, version="2c", credential_ref="env:YUNWANG_CRED_YWVSNMP", updated_at=now_utc())
            )
    celery = CeleryBackend(url)
    e = Engine("celery", db, Tasks(db, celery), "unused")
    queues = ("probe", f"probe.{a}", f"probe.{b}")
    sims: list[subprocess.Popen[Any]] = []
    agents: list[subprocess.Popen[Any]] = []
    env = {
        "YUNWANG_CRED_YWV_USERNAME": "netops",
        "YUNWANG_CRED_YWV_PASSWORD": password,
        "YUNWANG_COLLECTOR_SSH_TIMEOUT_SECONDS": "10",
        "YUNWANG_CRED_YWVSNMP_USERNAME": "snmp",
        "YUNWANG_CRED_YWVSNMP_PASSWORD": community,  # v2c: the password is the community
        "YUNWANG_COLLECTOR_SNMP_TIMEOUT_SECONDS": "2",
        **FAST_ICMP,
    }
    try:
        with vantage_net(tmp_path, url) as net:
            net.add(a, ["198.18.1.1", "198.18.1.3"])
            net.add(b, ["198.18.6.1", "198.18.6.3"])
            try:
                sims += [start_devicesim(net.prefix(a), "198.18.1.3", password, tmp_path)]
                sims += [start_devicesim(net.prefix(b), "198.18.6.3", password, tmp_path)]
                agents += [start_snmpd(net.prefix(a), "198.18.1.3", community, tmp_path)]
                agents += [start_snmpd(net.prefix(b), "198.18.6.3", community, tmp_path)]
                for v in (a, b):
                    venv = {"YUNWANG_COLLECTOR_VANTAGE": v, **env}
                    e.workers.append(worker_process(db, url, None, tmp_path, ["--vantage", v], venv, net.prefix(v)))
                for kind in (ProbeKind.SSH, ProbeKind.SNMP):
                    for assigned in ({a: ("NN",), b: ("LZ",)}, {a: ("LZ",), b: ("NN",)}):  # as assigned, swapped
                        before = {j["id"] for j in e.tasks.recent()}
                        submit_sweeps(db, e.tasks, assigned, kind)
                        jobs = {j["queue"]: j["id"] for j in e.tasks.recent() if j["id"] not in before}
                        assert sorted(jobs) == sorted(queues)
                        for q in queues[1:]:
                            job = e.wait(jobs[q], timeout=120)
                            assert (job.status, job.result["targets"]) == (TaskStatus.SUCCEEDED, 1), job.error  # type: ignore[index]
                with db.read_session() as s:
                    got = {
                        (k, d, v, ok)
                        for k, d, v, ok in s.execute(
                            select(ProbeRecord.kind, ProbeRecord.device_id, ProbeRecord.vantage, ProbeRecord.ok)
                        )
                    }
                    facts = {d.code: d.facts for d in s.scalars(select(Device))}
                    polled = {d for (d,) in s.execute(select(SnmpInterface.device_id).distinct())}
                expected = set()
                for k in ("ssh", "snmp"):
                    expected |= {
                        (k, dev["NN-SW"], a, True),  # by hand: reached from its own namespace
                        (k, dev["LZ-SW"], b, True),
                        (k, dev["LZ-SW"], a, False),  # swapped: no route from a to Liuzhou's device
                        (k, dev["NN-SW"], b, False),
                    }
                assert got == expected  # 8 results: 2 kinds × 2 devices × 2 vantages
                assert polled == set(dev.values())  # each agent's interface table stored, by its own vantage
                # devicesim names a Huawei device GX-HW-<third octet>-<fourth octet>
                assert facts["NN-SW"]["hostname"] == "GX-HW-1-3"  # type: ignore[index]
                assert facts["LZ-SW"]["hostname"] == "GX-HW-6-3"  # type: ignore[index]
            finally:
                stop_workers(e.workers)
                for proc in (*sims, *agents):
                    proc.terminate()
                    proc.wait(10)
    finally:
        with celery.app.connection_for_write() as conn:
            for q in queues:
                conn.default_channel.queue_delete(q)
        celery.stop()
