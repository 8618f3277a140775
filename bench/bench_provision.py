"""Provisioning overhead: yunwang's `provision` (step log, look-before-create, retries, audit) against the same
resources created with bare openstacksdk calls, on the real local OpenStack (goal: overhead ≤ 10 %).

Needs the local OpenStack running (`bash tests/env/openstack/install.sh && bash tests/env/openstack/start.sh`);
clouds.yaml from YUNWANG_CLOUDS_YAML or var/openstack/clouds.yaml. Each repetition builds: network + subnet +
router, a security group with one rule, 3 servers (created together, then waited ACTIVE), one volume attached
to a server, one floating IP; then tears it down (teardown not timed). Bare and yunwang runs alternate.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keystoneauth1 import session as ks_session  # counts HTTP requests of both variants

from bench.results import write_section
from core.db import Database
from orchestrator.app import schema as dbschema
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.provisioning.plan import NetworkSpec, ProvisionPlan, SecurityGroupSpec, ServerSpec, VolumeSpec
from orchestrator.provisioning.runs import provision, retire

warnings.filterwarnings("ignore")
REPS = int(os.environ.get("BENCH_PROVISION_REPS", "4"))
CLOUD = "gov-nanning"
SERVERS = 3


CALLS = {"n": 0}
_request = ks_session.Session.request


def _counting(self: Any, *args: Any, **kwargs: Any) -> Any:
    CALLS["n"] += 1
    return _request(self, *args, **kwargs)


ks_session.Session.request = _counting  # type: ignore[method-assign]


def plan(request_id: str, project: str) -> ProvisionPlan:
    return ProvisionPlan(
        request_id=request_id,
        cloud=CLOUD,
        project=project,
        unit_code="BENCH",
        servers=(ServerSpec("b", "m1.tiny", "cirros-fake", count=SERVERS),),
        volumes=(VolumeSpec("bv", 1, attach_to="b-1"),),
        networks=(NetworkSpec("bnet", "10.50.0.0/24"),),
        security_groups=(SecurityGroupSpec("bsg", (("tcp", 443, 443, "0.0.0.0/0"),)),),
        floating_ips=1,
    )


def bare(conn: Any, ext_id: str, az: str, tag: str) -> tuple[float, list[tuple[str, Any]]]:
    """The same resources with plain openstacksdk calls (what a hand-written script would do)."""
    made: list[tuple[str, Any]] = []
    t0 = time.perf_counter()
    net = conn.network.create_network(name="bnet")
    made.append(("network", net))
    sub = conn.network.create_subnet(name="bnet-v4", network_id=net.id, cidr="10.50.0.0/24", ip_version=4)
    made.append(("subnet", sub))
    router = conn.network.create_router(name="bnet-router", external_gateway_info={"network_id": ext_id})
    conn.network.add_interface_to_router(router, subnet=sub.id)
    made.append(("router", router))
    sg = conn.network.create_security_group(name="bsg")
    conn.network.create_security_group_rule(
        security_group_id=sg.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=443,
        port_range_max=443,
        remote_ip_prefix="0.0.0.0/0",
    )
    made.append(("sg", sg))
    flavor = conn.compute.find_flavor("m1.tiny")
    image = conn.image.find_image("cirros-fake")
    servers = [
        conn.compute.create_server(
            name=f"b-{i}",
            flavor_id=flavor.id,
            image_id=image.id,
            networks=[{"uuid": net.id}],
            security_groups=[{"name": "bsg"}],
            availability_zone=az,
            metadata={"bench": tag},
        )
        for i in range(1, SERVERS + 1)
    ]
    servers = [conn.compute.wait_for_server(s, status="ACTIVE", wait=180, interval=0.5) for s in servers]
    made.extend(("server", s) for s in servers)
    vol = conn.block_storage.create_volume(size=1, name="bv")
    vol = conn.block_storage.wait_for_status(vol, status="available", failures=["error"], interval=0.5, wait=180)
    made.append(("volume", vol))
    conn.compute.create_volume_attachment(servers[0], volume_id=vol.id)
    conn.block_storage.wait_for_status(vol, status="in-use", failures=["error"], interval=0.5, wait=180)
    port = next(iter(conn.network.ports(device_id=servers[0].id)))
    fip = conn.network.create_ip(floating_network_id=ext_id, port_id=port.id)
    made.append(("fip", fip))
    return time.perf_counter() - t0, made


def bare_teardown(conn: Any, made: list[tuple[str, Any]]) -> None:
    for kind, r in reversed(made):
        if kind == "fip":
            conn.network.delete_ip(r)
        elif kind == "volume":
            srv = next(s for k, s in made if k == "server")
            conn.compute.delete_volume_attachment(srv, r.id)
            conn.block_storage.wait_for_status(r, status="available", interval=0.5, wait=120)
            conn.block_storage.delete_volume(r)
            conn.block_storage.wait_for_delete(r, interval=0.5, wait=120)
        elif kind == "server":
            conn.compute.delete_server(r)
            conn.compute.wait_for_delete(r, interval=0.3, wait=120)
        elif kind == "sg":
            conn.network.delete_security_group(r)
        elif kind == "router":
            conn.network.remove_interface_from_router(r, subnet=next(s for k, s in made if k == "subnet").id)
            conn.network.delete_router(r)
        elif kind == "subnet":
            conn.network.delete_subnet(r)
        elif kind == "network":
            conn.network.delete_network(r)


def main() -> None:
    path = Path(os.environ.get("YUNWANG_CLOUDS_YAML", "var/openstack/clouds.yaml"))
    if not path.is_file():
        sys.exit(f"no clouds.yaml at {path}: start the local OpenStack (tests/env/openstack/start.sh)")
    registry = CloudRegistry(path)
    driver = registry.driver(CLOUD)
    project = "bench-" + uuid.uuid4().hex[:6]
    pid, _ = driver.ensure_project(project, "BENCH")
    admin = driver.admin()
    conn = admin.connect_as_project({"id": pid})
    admin.compute.update_quota_set(pid, instances=20, cores=40, ram=40960)
    ext = admin.network.find_network("public")
    conn.compute.find_flavor("m1.tiny")  # warm both token caches
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        dbschema.upgrade(url)
        db = Database(url)
        t_bare: list[float] = []
        t_yw: list[float] = []

        calls: dict[str, list[int]] = {"bare": [], "yunwang": []}

        def run_bare(rep: int) -> float:
            before = CALLS["n"]
            took, made = bare(conn, ext.id, driver.availability_zone or "", f"rep{rep}")
            calls["bare"].append(CALLS["n"] - before)
            bare_teardown(conn, made)
            return took

        def run_yunwang(rep: int) -> float:
            rid = f"BENCH-{rep}-{uuid.uuid4().hex[:6]}"
            before = CALLS["n"]
            t0 = time.perf_counter()
            out = provision(db, plan(rid, project), driver)
            took = time.perf_counter() - t0
            calls["yunwang"].append(CALLS["n"] - before)
            assert out.ok, out.error
            assert retire(db, rid, driver).ok
            return took

        warm = (run_bare(-1), run_yunwang(-1))  # first use: service discovery, tokens, image cache
        print(f"warm-up (not counted): bare {warm[0]:.2f} s, yunwang {warm[1]:.2f} s", flush=True)
        for rep in range(REPS):
            if rep % 2 == 0:  # alternate which goes first
                t_bare.append(run_bare(rep))
                t_yw.append(run_yunwang(rep))
            else:
                t_yw.append(run_yunwang(rep))
                t_bare.append(run_bare(rep))
            print(f"rep {rep + 1}: bare {t_bare[-1]:.2f} s, yunwang {t_yw[-1]:.2f} s", flush=True)
        db.dispose()
    left = driver.list_resources([pid])
    admin.identity.delete_project(pid)
    mb, my = statistics.median(t_bare), statistics.median(t_yw)
    overhead = (my - mb) / mb * 100
    rows = "\n".join(
        f"| {i + 1} | {b:.2f} | {y:.2f} | {(y - b) / b * 100:+.1f} % |"
        for i, (b, y) in enumerate(zip(t_bare, t_yw, strict=True))
    )
    body = f"""Same resources on the real local OpenStack (cloud `{CLOUD}`, fake virt driver): network + subnet + router,
security group, {SERVERS} servers to ACTIVE, 1 volume attached, 1 floating IP. Bare openstacksdk calls vs
`orchestrator.provisioning.runs.provision` (durable step log in SQLite, look-before-create, retry wrapper, audit).
Teardown not timed; one warm-up pair not counted (bare {warm[0]:.1f} s, yunwang {warm[1]:.1f} s: first-use
service discovery and tokens); which goes first alternates. Goal: overhead ≤ 10 %.

| rep | bare openstacksdk (s) | yunwang provision (s) | overhead |
|---|---|---|---|
{rows}

**Median: bare {mb:.2f} s, yunwang {my:.2f} s → overhead {overhead:+.1f} %** ({"meets" if overhead <= 10 else "misses"} the ≤ 10 % goal).
HTTP requests per provisioning (median, incl. status polling): bare {statistics.median(calls["bare"][1:]):.0f},
yunwang {statistics.median(calls["yunwang"][1:]):.0f}. The wall-clock figures are noisy on this shared 2-core
machine (the OpenStack services and other engineers' jobs compete for the CPUs); the median is reported.
Resources left in the bench project after every retire: {len(left)}."""
    write_section("provision", "Provisioning overhead over bare openstacksdk", body)


if __name__ == "__main__":
    main()
