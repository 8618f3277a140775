"""Chaos test of the production topology (deploy/, docs/deploy.md), all real parts on one machine.

PostgreSQL (a database of its own), a private RabbitMQ node, nginx running deploy/nginx/yunwang.conf, two
`yunwang serve` API processes behind it, two `yunwang worker` processes (threads pool, 2 each), the real local
OpenStack (YUNWANG_TEST_CLOUDS_YAML). Three phases, each with a probe sweep (ICMP, 5 targets on 127.0.0.0/8, ~25 s)
and a provisioning run (one server) submitted through nginx; in each phase one part is killed with SIGKILL while
both run, then started again as systemd's Restart=always would:

1. an API process;
2. the worker running the provisioning task (mid-task);
3. the broker (restarted on the same data dir).

Checked with figures counted by hand: every job succeeded, every request active (none left provisioning), each
request's server created once in OpenStack (by its marker), each target's probe result recorded once per sweep, and
the service answering through nginx again within seconds of each kill (measured and printed; bound 30 s).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from collectors.models import ProbeRecord
from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.tasks.models import FINISHED, TaskJob, TaskStatus
from orchestrator.provisioning.models import ProvisionRun, ProvisionStep
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.requests.models import ResourceRequest
from tests.builders import Inv
from tests.conftest import _pg_clone
from tests.integration.openstack.os_helpers import everything_in, owned_by
from tests.integration.platform.chaos_topology import RABBITMQ_SERVER, Proc, Rabbit, kill9, stop, wait_http
from tests.live_nginx import Nginx, nginx_binary

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
IN_CI = os.environ.get("CI") == "true"
CLOUD = "gov-nanning"
SWEEP_TARGETS = 5  # per phase: a node and its 4 children, each on its own 127.0.0.x address
ICMP = {  # a sweep of ~25 s (50 echo requests 0.5 s apart, all targets at once): it outlasts a broker restart
    "YUNWANG_COLLECTOR_ICMP_COUNT": "50",
    "YUNWANG_COLLECTOR_ICMP_PACKET_INTERVAL_SECONDS": "0.5",
    "YUNWANG_COLLECTOR_ICMP_TIMEOUT_SECONDS": "1",
}
BACK_WITHIN = 30.0  # seconds: the generous bound on "the service answers again"


def _need(what: str, ok: bool) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"CI must run the chaos test, but {what}")
        pytest.skip(what)


@dataclass
class Topology:
    db: Database
    rabbit: Rabbit
    nginx: Nginx
    apis: list[Proc]
    workers: list[Proc]
    http: httpx.Client
    projects: list[str]

    def logs(self) -> str:
        parts = [p.log()[-1500:] for p in self.apis + self.workers]
        return "\n----\n".join([*parts, self.nginx.error_log()[-1500:], self.rabbit.log_tail()[-800:]])


@pytest.fixture
def topology(tmp_path: Path, pg_template: str | None) -> Iterator[Callable[[], Topology]]:
    clouds_yaml = os.environ.get("YUNWANG_TEST_CLOUDS_YAML")
    nginx_bin = nginx_binary()
    _need("YUNWANG_TEST_PG_URL is not set", pg_template is not None)
    _need("no local OpenStack: YUNWANG_TEST_CLOUDS_YAML unset", bool(clouds_yaml and Path(clouds_yaml).is_file()))
    _need("no nginx: run tests/env/setup-17-nginx.sh", nginx_bin is not None)
    _need("no rabbitmq-server: run tests/env/setup-15-rabbitmq.sh", RABBITMQ_SERVER.is_file())
    assert pg_template is not None and clouds_yaml is not None and nginx_bin is not None
    url, drop = _pg_clone(pg_template)
    db = Database(url)
    rabbit = Rabbit(tmp_path / "rabbitmq")
    apis: list[Proc] = []
    workers: list[Proc] = []
    nginx: Nginx | None = None
    http = httpx.Client(timeout=30)
    projects: list[str] = []

    def start() -> Topology:
        nonlocal nginx
        rabbit.start()
        common = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
            "YUNWANG_DATABASE_URL": url,
            "YUNWANG_BROKER_URL": rabbit.url,
            "YUNWANG_CLOUDS_YAML": clouds_yaml,
            "YUNWANG_SECRET_KEY": Fernet.generate_key().decode(),
            # the periodic jobs and their handover are tests/integration/platform/test_replicas.py; here only the
            # sweeps and provisionings this test starts run, so every figure can be counted by hand
            "YUNWANG_SCHEDULER_ENABLED": "false",
            "YUNWANG_LOG_LEVEL": "INFO",
            **ICMP,
        }
        ports = (free(), free())
        for i, port in enumerate(ports):
            env = {**common, "YUNWANG_DATA_DIR": str(tmp_path / f"api{i}" / "data")}
            args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-upgrade"]
            apis.append(Proc(f"api{i}", args, env, tmp_path / f"api{i}"))
        for i in range(2):
            env = {**common, "YUNWANG_DATA_DIR": str(tmp_path / f"worker{i}" / "data")}
            args = ["worker", "--pool", "threads", "--concurrency", "2"]
            workers.append(Proc(f"worker{i}", args, env, tmp_path / f"worker{i}"))
        for p in apis + workers:
            p.start()
        nginx = Nginx(nginx_bin, tmp_path / "nginx", ports)
        nginx.start()
        t = Topology(db, rabbit, nginx, apis, workers, http, projects)
        for i, port in enumerate(ports):
            wait_http(f"http://127.0.0.1:{port}/healthz", f"api{i}", 90, t.logs())
        wait_http(nginx.url + "/healthz", "nginx", 30, t.logs())
        wait_workers(t)
        return t

    try:
        yield start
    finally:
        http.close()
        for p in apis + workers:
            stop(p.proc)
        if nginx is not None:
            stop(nginx.proc)
        rabbit.stop()
        for project in projects:  # the servers, networks and project of the test's requests
            _cleanup(CloudRegistry(Path(clouds_yaml), api_timeout=30), project)
        db.dispose()
        drop()


def free() -> int:
    from tests.live_server import free_port

    return free_port()


def wait_workers(t: Topology, timeout: float = 90) -> None:
    """Every worker consumes (the log of its latest start says `ready`)."""
    deadline = time.monotonic() + timeout
    for w in t.workers:
        while "ready." not in (w.started_logs() or [""])[-1]:
            assert w.alive(), f"{w.name} exited: {w.log()[-3000:]}"
            assert time.monotonic() < deadline, f"{w.name} not ready: {w.log()[-3000:]}"
            time.sleep(0.3)


@dataclass
class Phase:
    name: str
    request_id: int
    provision_job: str
    sweep_job: str
    node_ids: list[int]
    killed: str = ""
    back_s: float = -1.0  # kill → first answer through nginx
    tasks_back_s: float = -1.0  # kill → first task accepted (202) through nginx
    failed_calls: int = 0  # calls through nginx that failed after the kill (connection error or 5xx)


def _wait(what: str, probe: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s\n{logs()[-6000:]}"
        time.sleep(0.1)


def test_kill_an_api_process_a_worker_and_the_broker_nothing_lost_nothing_twice(
    topology: Callable[[], Topology], tmp_path: Path
) -> None:
    t = topology()
    db = t.db
    base = t.nginx.url
    suffix = uuid.uuid4().hex[:8]
    unit_code = f"C{suffix.upper()}"
    project = f"yw-{unit_code}".lower()
    t.projects.append(project)  # removed from the cloud after the test, whatever happens
    registry = CloudRegistry(Path(os.environ["YUNWANG_TEST_CLOUDS_YAML"]), api_timeout=30)
    driver = registry.driver(CLOUD)
    with db.session() as s:
        inv = Inv(s)
        ids = inv.basic()  # its gov cloud is gov-nanning, the local OpenStack region of that name
        inv.set("units", ids["county_unit"], code=unit_code)
        roots: list[list[int]] = []
        for k in range(3):  # one subtree per phase: 127.0.0.1{k}1 … 127.0.0.1{k}5
            root = inv.node(ids["region"], code=f"CH{k}-{suffix}", address=f"127.0.0.1{k}1")
            kids = [
                inv.node(ids["region"], "city", root, code=f"CH{k}{j}-{suffix}", address=f"127.0.0.1{k}{j}")
                for j in range(2, 6)
            ]
            roots.append([root, *kids])
        dept = create_token(s, f"dept-{suffix}", Role.DEPARTMENT_USER, ids["county_unit"])
        op = create_token(s, f"op-{suffix}", Role.CLOUD_OPERATOR)
        net = create_token(s, f"net-{suffix}", Role.NETWORK_ADMIN)
    H = {r: {"Authorization": f"Bearer {tok}"} for r, tok in (("dept", dept), ("op", op), ("net", net))}

    def call(method: str, path: str, who: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 202)) -> Any:
        r = t.http.request(method, base + path, json=body, headers=H[who])
        assert r.status_code in ok, (method, path, r.status_code, r.text)
        return r.json()

    assert call("POST", "/api/v1/clouds/sweep", "op")["failures"] == 0  # capacity samples for the placement

    def submit(k: int) -> Phase:
        bundle = {
            "servers": [
                {"name": "app", "flavor": "m1.tiny", "image": "cirros-fake", "vcpus": 1, "ram_mb": 512, "disk_gb": 1}
            ],
            "networks": [{"name": "biz", "cidr": f"10.31.{k}.0/24"}],
        }
        body = {"title": f"混沌测试 {k}", "unit_id": ids["county_unit"], "bundle": bundle}
        rid = call("POST", "/api/v1/requests", "dept", body)["id"]
        assert call("POST", f"/api/v1/requests/{rid}/submit", "dept")["status"] == "approved"  # small: auto-approved
        assert call("POST", f"/api/v1/requests/{rid}/schedule", "op")["primary_cloud"] == CLOUD
        sweep = call(
            "POST", "/api/v1/collectors/probe", "net", {"node_id": roots[k][0], "subtree": True, "kinds": ["icmp"]}
        )
        prov = call("POST", f"/api/v1/requests/{rid}/provision", "op")
        # 202 answers the request and its job as they are when the answer is written: a free worker may already
        # have taken the job (provisioning, running) before that.
        assert prov["status"] in ("scheduled", "provisioning") and prov["job"]["status"] in ("queued", "running"), prov
        return Phase(["api", "worker", "broker"][k], rid, prov["job"]["id"], sweep["job_id"], roots[k])

    def job(job_id: str) -> TaskJob:
        with db.read_session() as s:
            row = s.get(TaskJob, job_id)
            assert row is not None
            s.expunge(row)
            return row

    def running(p: Phase) -> bool:
        return job(p.provision_job).status == TaskStatus.RUNNING and job(p.sweep_job).status == TaskStatus.RUNNING

    probes: list[str] = []

    def done(p: Phase, probe: str) -> None:
        jobs = (p.provision_job, p.sweep_job, probe)
        _wait(f"phase {p.name}: its jobs finished", lambda: all(job(j).status in FINISHED for j in jobs), 240, t.logs)

    phases: list[Phase] = []

    # --- 1. an API process ----------------------------------------------------------------------------------------
    p = submit(0)
    _wait("phase 1 tasks running", lambda: running(p), 60, t.logs)
    victim = t.apis[0]
    kill9(victim.proc)  # type: ignore[arg-type]
    killed = time.monotonic()
    p.killed = f"API process api0 (pid {victim.pid})"
    probes.append(_measure(t, p, H, killed, lambda: True))
    victim.start()  # systemd: Restart=always
    wait_http(f"http://127.0.0.1:{t.nginx.api_ports[0]}/healthz", "api0 again", 90, t.logs())
    phases.append(p)
    done(p, probes[-1])  # each phase ends with all its jobs finished: the next starts on idle workers

    # --- 2. the worker running the provisioning task --------------------------------------------------------------
    p = submit(1)
    _wait("phase 2 tasks running", lambda: running(p), 60, t.logs)
    holder = int((job(p.provision_job).worker or "x:0").split(":")[1])
    by_pid = {w.pid: w for w in t.workers}
    assert holder in by_pid, (holder, list(by_pid))
    victim_w = by_pid[holder]
    time.sleep(2)  # well inside the provisioning (network, subnet, router, then the server boots)
    assert job(p.provision_job).status == TaskStatus.RUNNING
    kill9(victim_w.proc)  # type: ignore[arg-type]
    killed = time.monotonic()
    p.killed = f"worker {victim_w.name} (pid {holder}) while it ran the provisioning task"
    probes.append(_measure(t, p, H, killed, lambda: True))
    victim_w.start()
    phases.append(p)
    done(p, probes[-1])  # each phase ends with all its jobs finished: the next starts on idle workers

    # --- 3. the broker --------------------------------------------------------------------------------------------
    wait_workers(t)
    p = submit(2)
    _wait("phase 3 tasks running", lambda: running(p), 60, t.logs)
    t.rabbit.kill9()
    killed = time.monotonic()
    p.killed = "the RabbitMQ node (restarted on the same data dir)"
    restarted: list[float] = []
    restart = threading.Thread(target=lambda: restarted.append(t.rabbit.start()))  # systemd: Restart=always
    restart.start()
    probes.append(_measure(t, p, H, killed, lambda: not restart.is_alive()))
    restart.join()
    assert len(restarted) == 1, "RabbitMQ did not start again"
    p.killed += f", up again after {restarted[0]:.2f} s"
    phases.append(p)
    done(p, probes[-1])  # each phase ends with all its jobs finished: the next starts on idle workers

    # --- every job reaches its final state ------------------------------------------------------------------------
    everything = [j for ph in phases for j in (ph.provision_job, ph.sweep_job)] + probes

    outcome = {j: (job(j).name, job(j).status.value, job(j).attempts) for j in everything}
    for ph in phases:
        print(
            f"chaos {ph.name}: killed {ph.killed}; answering through nginx after {ph.back_s:.2f} s, "
            f"tasks accepted after {ph.tasks_back_s:.2f} s, failed calls {ph.failed_calls}; "
            f"provisioning {outcome[ph.provision_job]}, sweep {outcome[ph.sweep_job]}"
        )
    print(f"chaos: nginx passed on {t.nginx.upstream_errors()} request(s) from a dead API process")
    duplicates = sum("".join(w.started_logs()).count("duplicate delivery ignored") for w in t.workers)
    waited = sum("".join(w.started_logs()).count("this delivery waits for that run") for w in t.workers)
    print(f"chaos: {duplicates} duplicate delivery(ies) of a finished job ignored, {waited} waited for the live run")
    assert [outcome[j][1] for j in everything] == ["succeeded"] * len(everything), (outcome, t.logs())
    # the provisioning of phase 2 ran twice (its worker was killed: the message came back), every other job once
    attempts = [(outcome[ph.provision_job][2], outcome[ph.sweep_job][2]) for ph in phases]
    assert attempts[0] == (1, 1) and attempts[1][0] == 2 and attempts[2] == (1, 1), attempts
    assert len(probes) == 3  # one accepted probe job per phase during the recovery
    for ph in phases:
        assert 0 <= ph.back_s < BACK_WITHIN and 0 <= ph.tasks_back_s < BACK_WITHIN, ph

    _check_requests(db, phases, driver, project, unit_code)
    _check_probes(db, phases)


def _measure(
    t: Topology, p: Phase, headers: dict[str, dict[str, str]], killed_at: float, stop_after: Callable[[], bool]
) -> str:
    """Poll through nginx every 0.1 s from the kill on: a read (the phase's request) and, every 0.5 s until one is
    accepted, a task submission (a one-target probe job). Sets the phase's figures; the accepted job's id."""
    base, accepted = t.nginx.url, ""
    n = 0
    while not (p.back_s >= 0 and accepted and stop_after()):
        assert time.monotonic() - killed_at < 120, f"phase {p.name}: no recovery\n{t.logs()}"
        try:
            r = t.http.get(base + f"/api/v1/requests/{p.request_id}", headers=headers["dept"], timeout=5)
            if r.status_code == 200 and p.back_s < 0:
                p.back_s = time.monotonic() - killed_at
            p.failed_calls += r.status_code >= 500
        except httpx.HTTPError:
            p.failed_calls += 1
        if n % 5 == 0 and not accepted:
            body = {"node_id": p.node_ids[1], "kinds": ["tcp"]}
            with contextlib.suppress(httpx.HTTPError):  # the broker down: 503, nothing queued
                r = t.http.post(base + "/api/v1/collectors/probe", json=body, headers=headers["net"], timeout=15)
                if r.status_code == 202:
                    accepted, p.tasks_back_s = r.json()["job_id"], time.monotonic() - killed_at
        n += 1
        time.sleep(0.1)
    return accepted


def _check_requests(db: Database, phases: list[Phase], driver: Any, project: str, unit_code: str) -> None:
    """Each server created once (by its marker in OpenStack); no request, run or step left half-written."""
    with db.read_session() as s:
        reqs = {r.id: r for r in s.scalars(select(ResourceRequest))}
        codes = {ph.name: reqs[ph.request_id].code for ph in phases}
        assert sorted(r.status.value for r in reqs.values()) == ["active", "active", "active"]
        runs = s.execute(
            select(ProvisionRun.request_id, ProvisionRun.status).where(ProvisionRun.request_id.in_(codes.values()))
        ).all()
        assert sorted(st.value for _, st in runs) == ["done", "done", "done"]  # one run per request, each done
        steps = s.execute(
            select(ProvisionRun.request_id, ProvisionStep.kind, ProvisionStep.name, ProvisionStep.status).join(
                ProvisionRun, ProvisionRun.id == ProvisionStep.run_id
            )
        ).all()
    # by hand: project, network, subnet, router, server app = 5 steps per request, each once, all ready (the unit's
    # project: created by the first request, adopted by the others)
    for code in codes.values():
        mine = sorted((k, st.value) for c, k, _, st in steps if c == code)
        assert len(mine) == 5 and [k for k, _ in mine] == ["network", "project", "router", "server", "subnet"], mine
        assert all(st == "ready" or (k, st) == ("project", "adopted") for k, st in mine), mine
        assert [n for c, k, n, _ in steps if c == code and k == "server"] == ["app"]
    pid = driver.ensure_project(project, unit_code)[0]
    for name, code in codes.items():
        servers = [
            o for o in owned_by(driver, pid, code) if o.kind.value == "server" and o.owner and o.owner[1] == CLOUD
        ]
        assert [(o.name, o.status) for o in servers] == [("app", "ACTIVE")], (name, servers)


def _check_probes(db: Database, phases: list[Phase]) -> None:
    """The probe results of each sweep recorded once per target."""
    with db.read_session() as s:
        for ph in phases:
            counts = dict(
                s.execute(
                    select(ProbeRecord.node_id, func.count())
                    .where(ProbeRecord.node_id.in_(ph.node_ids), ProbeRecord.kind == "icmp")
                    .group_by(ProbeRecord.node_id)
                ).all()
            )
            assert counts == dict.fromkeys(ph.node_ids, 1), (ph.name, counts)  # 5 targets, one record each


def _cleanup(registry: CloudRegistry, project: str) -> None:
    drv = registry.driver(CLOUD)  # (the local regions share one Nova: one listing holds both clouds' objects)
    conn = drv.admin()
    p = conn.identity.find_project(project, domain_id="default")
    if p is not None:
        for o in everything_in(drv, p.id):
            with contextlib.suppress(Exception):
                drv.delete(o.kind, p.id, o)
        conn.identity.delete_project(p.id, ignore_missing=True)
