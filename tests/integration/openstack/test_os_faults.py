"""Faults against the real local OpenStack: injected 5xx/429/late answers (a fault proxy in front of Nova,
Neutron and Cinder), a killed orchestrator, a real Nova quota refusal, a cloud that is down or goes down.
Each must end correctly with zero orphaned and zero duplicated resources, checked by listing the cloud."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from os_faultproxy import FaultProxy, Rule
from os_kill_worker import kill_plan
from sqlalchemy import func, select

from core.db import Database
from orchestrator.provisioning.models import ProvisionRun, ProvisionStep, RunStatus, StepStatus
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.provisioning.plan import NetworkSpec, ProvisionPlan, SecurityGroupSpec, ServerSpec, VolumeSpec
from orchestrator.provisioning.runs import provision, resume, retire
from tests.integration.openstack.os_helpers import everything_in, owned_by

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::Warning")]
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


@pytest.fixture
def proxies() -> Iterator[dict[str, FaultProxy]]:
    """Fault proxies in front of the real Nova, Neutron and Cinder; they go down together."""
    group: list[FaultProxy] = []
    made = {
        "compute": FaultProxy("http://127.0.0.1:8774", group),
        "network": FaultProxy("http://127.0.0.1:9696", group),
        "volume": FaultProxy("http://127.0.0.1:8776", group),
    }
    yield made
    for p in made.values():
        p.close()


@pytest.fixture
def proxied(variant: Callable[..., CloudRegistry], proxies: dict[str, FaultProxy]) -> CloudRegistry:
    return variant(
        "gov-nanning",
        api_timeout=4,
        compute_endpoint_override=proxies["compute"].url + "/v2.1",
        network_endpoint_override=proxies["network"].url,
        block_storage_endpoint_override=proxies["volume"].url + "/v3",
    )


def plan(request_id: str, project: str, servers: int = 2, **kw: object) -> ProvisionPlan:
    return ProvisionPlan(
        request_id=request_id,
        cloud="gov-nanning",
        project=project,
        unit_code="GXFAULT",
        servers=(ServerSpec("f", "m1.tiny", "cirros-fake", count=servers),),
        networks=(NetworkSpec("fnet", "10.40.0.0/24"),),
        security_groups=(SecurityGroupSpec("fsg", (("tcp", 22, 22, "10.0.0.0/8"),)),),
        **kw,  # type: ignore[arg-type]
    )


def kinds(objs: list) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(o.kind.value for o in objs)


def test_5xx_429_and_lost_answers_are_retried_without_duplicates(
    db: Database,
    proxied: CloudRegistry,
    proxies: dict[str, FaultProxy],
    cloud_registry: CloudRegistry,
    request_id: str,
    project: str,
    cleanup: list[tuple[str, str]],
) -> None:
    cleanup.append(("gov-nanning", project))
    proxies["compute"].add(Rule("POST", r"/servers$", "status", status=503))
    proxies["compute"].add(Rule("POST", r"/servers$", "late", delay_s=6))  # Nova creates it; the answer is lost
    proxies["network"].add(Rule("POST", r"/networks$", "status", status=429))
    proxies["network"].add(Rule("POST", r"/subnets$", "status", status=500))
    proxies["network"].add(Rule("POST", r"/security-groups$", "late", delay_s=6))
    proxies["volume"].add(Rule("POST", r"/volumes$", "status", status=502))
    out = provision(
        db, plan(request_id, project, volumes=(VolumeSpec("fv", 1, attach_to="f-1"),)), proxied.driver("gov-nanning")
    )
    assert out.ok, out.error
    # every injected fault fired
    fired = [
        s for p in proxies.values() for s in p.seen if s[2] in ("503", "429", "500", "502") or s[2].startswith("late")
    ]
    assert len(fired) == 6, fired
    real = cloud_registry.driver("gov-nanning")
    pid = next(r.project_id for r in out.resources if r.project_id)
    assert pid is not None
    have = everything_in(real, pid)
    assert kinds(have) == Counter(
        {"server": 2, "network": 1, "subnet": 1, "router": 1, "security_group": 1, "volume": 1}
    ), have
    assert all(o.owner and o.owner[0] == request_id for o in have)
    with db.session() as s:
        assert s.scalars(select(ProvisionRun)).one().attempts >= 6
    assert retire(db, request_id, real).ok
    assert everything_in(real, pid) == []


def test_killed_orchestrator_resumes_without_orphans_or_duplicates(
    db: Database,
    clouds_yaml: Path,
    cloud_registry: CloudRegistry,
    request_id: str,
    project: str,
    cleanup: list[tuple[str, str]],
) -> None:
    cleanup.append(("gov-nanning", project))
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "os_kill_worker.py"), db.url, str(clouds_yaml), "gov-nanning", request_id, project],
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # kill it as soon as two of its four servers have a cloud id (the others not yet created or not ACTIVE)
    deadline = time.monotonic() + 180
    created = 0
    while time.monotonic() < deadline and worker.poll() is None:
        with db.session() as s:
            created = (
                s.scalar(
                    select(func.count(ProvisionStep.id)).where(
                        ProvisionStep.kind == "server", ProvisionStep.cloud_id.is_not(None)
                    )
                )
                or 0
            )
        if created >= 2:
            break
        time.sleep(0.05)
    assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    with db.session() as s:
        run = s.scalars(select(ProvisionRun)).one()
        assert run.status == RunStatus.RUNNING  # the process died mid-way
        assert not all(st.status == StepStatus.READY for st in s.scalars(select(ProvisionStep)).all())
    driver = cloud_registry.driver("gov-nanning")
    out = resume(db, request_id, driver)
    assert out.ok, out.error
    pid = next(r.project_id for r in out.resources if r.project_id)
    assert pid is not None
    have = everything_in(driver, pid)
    assert kinds(have) == Counter({"server": 4, "network": 1, "subnet": 1, "router": 1, "volume": 1}), have
    assert sorted(o.name for o in have if o.kind.value == "server") == ["k-1", "k-2", "k-3", "k-4"]
    assert {o.status for o in have if o.kind.value == "server"} == {"ACTIVE"}
    assert retire(db, request_id, driver).ok
    assert everything_in(driver, pid) == []
    assert kill_plan(request_id, "gov-nanning", project).server_names() == ("k-1", "k-2", "k-3", "k-4")


def test_real_nova_quota_403_is_not_retried_and_rolls_back_everything(
    db: Database,
    variant: Callable[..., CloudRegistry],
    proxies: dict[str, FaultProxy],
    cloud_registry: CloudRegistry,
    request_id: str,
    project: str,
    cleanup: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cleanup.append(("gov-nanning", project))
    real = cloud_registry.driver("gov-nanning")
    pid = real.ensure_project(project, "GXFAULT")[0]
    admin = real.admin()
    before = admin.compute.get_quota_set(pid)
    admin.compute.update_quota_set(pid, instances=2)  # the cloud admin's limit
    try:
        # Nova behind the (fault-free) proxy, which records every request it forwards
        counted = variant("gov-nanning", compute_endpoint_override=proxies["compute"].url + "/v2.1")
        d = counted.driver("gov-nanning")
        # as if another run had raced past the pre-check: only Nova itself can refuse now
        monkeypatch.setattr(d, "quota_usage", lambda _pid: {})
        out = provision(db, plan(request_id, project, servers=3), d)
        assert not out.ok and out.rolled_back
        assert "云平台自身配额不足" in (out.error or "") and "instances" in (out.error or "")
        assert "secret" not in (out.error or "")
        posts = [s[2] for s in proxies["compute"].seen if s[0] == "POST" and s[1].endswith("/servers")]
        # Nova refuses the third server at its API (403) or, when only its own recheck catches it, accepts it and
        # puts it in ERROR with "Quota exceeded"; either way it is worded as the cloud's quota and never retried.
        assert posts[:2] == ["202", "202"] and posts[2:] in (["403"], ["202"]), posts
        assert everything_in(real, pid) == []
        with db.session() as s:
            assert s.scalars(select(ProvisionRun)).one().status == RunStatus.ROLLED_BACK
            assert {st.status for st in s.scalars(select(ProvisionStep).filter_by(owned=True))} == {StepStatus.DELETED}
        assert int(admin.compute.get_quota_set(pid).instances) == 2  # yunwang left the cloud's quota alone
    finally:
        admin.compute.update_quota_set(pid, instances=int(before.instances))


def test_cloud_down_fails_cleanly_without_secrets(
    db: Database, variant: Callable[..., CloudRegistry], request_id: str, project: str
) -> None:
    down = variant("gov-nanning", api_timeout=3, auth_url="http://127.0.0.1:9/v3")  # nothing listens on :9
    out = provision(db, plan(request_id, project), down.driver("gov-nanning"))
    assert not out.ok and out.resources == ()
    assert out.error and "secret" not in out.error and "password" not in out.error.lower()
    assert "gov-nanning" in out.error


def test_cloud_going_down_midway_leaves_rollback_pending_then_resume_cleans_up(
    db: Database,
    proxied: CloudRegistry,
    proxies: dict[str, FaultProxy],
    cloud_registry: CloudRegistry,
    request_id: str,
    project: str,
    cleanup: list[tuple[str, str]],
) -> None:
    cleanup.append(("gov-nanning", project))
    proxies["volume"].add(Rule("POST", r"/volumes$", "down"))  # Nova, Neutron and Cinder all vanish
    p = plan(request_id, project, volumes=(VolumeSpec("dv", 1, attach_to="f-1"),))
    out = provision(db, p, proxied.driver("gov-nanning"))
    assert not out.ok and not out.rolled_back
    with db.session() as s:
        assert s.scalars(select(ProvisionRun)).one().status == RunStatus.ROLLBACK_PENDING
    real = cloud_registry.driver("gov-nanning")
    pid = real.ensure_project(project, "GXFAULT")[0]
    assert kinds(owned_by(real, pid, request_id))["server"] == 2  # still there: the cloud was unreachable
    for proxy in proxies.values():
        proxy.up()
    again = resume(db, request_id, proxied.driver("gov-nanning"))
    assert again.rolled_back, again.error
    assert everything_in(real, pid) == []
