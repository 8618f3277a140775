"""The cloud's own limits, against the in-memory driver: quota policy (observe / managed), quota refusals never
retried, real flavor sizes, READY steps re-checked on resume, and `resume` of a cloud with no run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from openstack import exceptions as os_exc
from sqlalchemy import select

from core.db import Database
from core.models import ChangeLog
from orchestrator.provisioning import runs as provision_module
from orchestrator.provisioning.driver import CloudError, FlavorSize, InMemoryDriver
from orchestrator.provisioning.models import ProvisionRun, RunStatus
from orchestrator.provisioning.openstack import OpenStackDriver, is_quota_refusal
from orchestrator.provisioning.plan import NetworkSpec, ProvisionPlan, ResourceKind, ServerSpec, VolumeSpec
from orchestrator.provisioning.runs import (
    NoRun,
    RetryPolicy,
    call,
    provision,
    quota_shortfalls,
    resume,
    retire,
    size_mismatch,
)

TINY = FlavorSize(1, 512, 1)
SMALL = FlavorSize(2, 4096, 20)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision_module, "RETRY", RetryPolicy(attempts=5, initial_s=0.001, max_s=0.002))
    monkeypatch.setattr(provision_module, "SETTLE_S", 0.0)


def driver(instances: int = 10, **quotas: int) -> InMemoryDriver:
    d = InMemoryDriver(instances_quota=instances, flavors={"m1.tiny": TINY, "m1.small": SMALL})
    pid, _ = d.ensure_project("yw-a", "A")
    if quotas:
        d.quotas[pid] = {"instances": instances, **quotas}
    return d


def plan(request_id: str, servers: int = 2, manage: bool = False, **sizes: int) -> ProvisionPlan:
    return ProvisionPlan(
        request_id=request_id,
        cloud="mem",
        project="yw-a",
        unit_code="A",
        servers=(ServerSpec(f"s{request_id.lower()}", "m1.small", "img", count=servers, **sizes),),
        volumes=(VolumeSpec(f"v{request_id.lower()}", 10),),
        networks=(NetworkSpec(f"n{request_id.lower()}", "10.1.0.0/24"),),
        manage_quota=manage,
    )


def servers_of(d: InMemoryDriver) -> int:
    return sum(1 for o in d.objects.values() if o.kind == ResourceKind.SERVER)


# --- pure parts ---------------------------------------------------------------------------------------------------


def test_quota_shortfalls_name_each_quota_and_ignore_unlimited_ones() -> None:
    usage = {"instances": (3, 4), "cores": (6, 8), "ram": (0, -1), "volumes": (0, 10)}
    need = {"instances": 2, "cores": 2, "ram": 10**9, "volumes": 1, "gigabytes": 5}
    # instances: 3 + 2 > 4; cores: 6 + 2 = 8 fits; ram unlimited; gigabytes not reported by the cloud
    assert quota_shortfalls(need, usage) == [("instances", 3, 2, 4)]


def test_declared_sizes_are_compared_with_the_real_flavor() -> None:
    assert size_mismatch("m1.small", SMALL, ServerSpec("a", "m1.small", "i", vcpus=2, ram_mb=4096)) is None
    assert size_mismatch("m1.small", SMALL, ServerSpec("a", "m1.small", "i")) is None  # nothing declared
    why = size_mismatch("m1.small", SMALL, ServerSpec("a", "m1.small", "i", vcpus=4, ram_mb=4096, disk_gb=40))
    assert why is not None and "vCPU 4 ≠ 2" in why and "disk_gb 40 ≠ 20" in why and "ram_mb" not in why


@pytest.mark.parametrize(
    ("status", "detail", "quota"),
    [
        (403, "Quota exceeded for cores: Requested 2, but already used 9 of 10 cores", True),
        (409, "Quota exceeded for resources: ['network'].", True),  # Neutron OverQuota
        (413, "VolumeLimitExceeded: Maximum number of volumes allowed (10) exceeded for quota 'volumes'.", True),
        (409, "Port is in use", False),
        (403, "Policy doesn't allow os_compute_api:servers:create", False),
        (500, "Quota exceeded (but a 500)", False),
    ],
)
def test_quota_refusals_are_recognised(status: int, detail: str, quota: bool) -> None:
    assert is_quota_refusal(status, detail) is quota


def test_a_409_quota_refusal_from_openstack_is_permanent_and_names_the_quota(tmp_path: Path) -> None:
    d = OpenStackDriver("gov-x", tmp_path / "clouds.yaml", {"auth": {"password": "s3cret"}}, 5, 5)
    over = os_exc.ConflictException(
        message="Conflict", http_status=409, details="Quota exceeded for resources: ['network']. s3cret"
    )
    err = d._error(over, "create network")
    assert err.quota and not err.transient and err.status == 409
    assert "云平台自身配额不足" in err.message and "['network']" in err.message and "s3cret" not in err.message
    clearing = d._error(os_exc.ConflictException(message="Conflict", http_status=409, details="Port busy"), "x")
    assert clearing.transient and not clearing.quota  # other 409s still clear by themselves


def test_a_quota_refusal_is_not_retried_even_when_flagged_transient() -> None:
    tries = {"n": 0}

    def refuse() -> None:
        tries["n"] += 1
        raise CloudError("Quota exceeded for instances", transient=True, quota=True, status=409)

    with pytest.raises(CloudError):
        call(refuse, RetryPolicy(attempts=5, initial_s=0.001, max_s=0.001))
    assert tries["n"] == 1


# --- observe mode (default): yunwang never changes the cloud's quota ------------------------------------------------


def test_observe_mode_refuses_before_creating_and_names_the_cloud_quota(db: Database) -> None:
    d = driver(instances=10, cores=3)  # the cloud admin allows 3 cores; the plan needs 2 × 2
    out = provision(db, plan("R1"), d)
    assert not out.ok and out.rolled_back
    assert "Nova 'cores' (vCPU): 0 in use + 4 requested > limit 3" in (out.error or "")
    assert "yunwang does not change it" in (out.error or "")
    assert d.created_count == {} and d.calls.get("set_quota", 0) == 0


def test_a_quota_403_at_create_is_not_retried_and_rolls_back(db: Database) -> None:
    d = driver()
    creates = {"server": 0}

    def fault(op: str, kind: ResourceKind | None) -> CloudError | None:
        if op == "create" and kind == ResourceKind.SERVER:
            creates["server"] += 1
            return CloudError("mem: create server: Quota exceeded for instances", quota=True, status=403)
        return None

    d.fault = fault
    out = provision(db, plan("R1"), d)
    assert not out.ok and out.rolled_back and "Quota exceeded for instances" in (out.error or "")
    assert creates["server"] == 1  # one try, no retries
    assert [o for o in d.objects.values() if o.marker] == []


def test_two_runs_of_one_project_at_once_both_fit_without_touching_the_quota(any_db: Database) -> None:
    db = any_db
    d = driver(instances=4, cores=8, ram=16384)  # exactly room for both (2 + 2 servers of 2 vCPU / 4 GB)
    outs: dict[str, bool] = {}

    def run(rid: str) -> None:
        outs[rid] = provision(db, plan(rid), d).ok

    threads = [threading.Thread(target=run, args=(rid,)) for rid in ("R1", "R2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outs == {"R1": True, "R2": True}
    assert servers_of(d) == 4
    assert d.calls.get("set_quota", 0) == 0
    assert d.quotas[d.projects["yw-a"]] == {"instances": 4, "cores": 8, "ram": 16384}


# --- managed mode: raised by each run's needs, recorded, returned -----------------------------------------------


def test_managed_mode_raises_per_run_records_it_and_returns_it_on_retirement(any_db: Database) -> None:
    db = any_db
    d = driver(instances=1, cores=2, ram=4096, volumes=5)
    pid = d.projects["yw-a"]
    outs: dict[str, bool] = {}

    def run(rid: str) -> None:
        outs[rid] = provision(db, plan(rid, manage=True), d).ok

    threads = [threading.Thread(target=run, args=(rid,)) for rid in ("R1", "R2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outs == {"R1": True, "R2": True}
    # each run added its own needs (2 servers, 4 vCPU, 8192 MB, 1 volume); gigabytes is unlimited (not touched)
    assert d.quotas[pid] == {"instances": 1 + 2 + 2, "cores": 2 + 4 + 4, "ram": 4096 + 8192 + 8192, "volumes": 7}
    assert retire(db, "R1", d).ok and retire(db, "R2", d).ok
    assert d.quotas[pid] == {"instances": 1, "cores": 2, "ram": 4096, "volumes": 5}
    with db.session() as s:
        entries = s.scalars(select(ChangeLog).filter_by(kind="cloud_quota").order_by(ChangeLog.id)).all()
    assert len(entries) == 4  # two raises, two returns
    assert {e.object_code for e in entries} == {"yw-a@mem"}
    assert sorted(e.message or "" for e in entries)[0].startswith("managed quota: raised")


def test_managed_mode_returns_the_raise_when_the_run_fails(db: Database) -> None:
    d = driver(instances=1, cores=2, ram=4096)
    pid = d.projects["yw-a"]
    d.fault = lambda op, kind: (
        CloudError("mem: create volume: backend down", status=400)
        if op == "create" and kind == ResourceKind.VOLUME
        else None
    )
    out = provision(db, plan("R1", manage=True), d)
    assert not out.ok and out.rolled_back
    assert d.quotas[pid] == {"instances": 1, "cores": 2, "ram": 4096}
    assert [o for o in d.objects.values() if o.marker] == []


# --- flavors -------------------------------------------------------------------------------------------------------


def test_declared_sizes_that_differ_from_the_flavor_are_refused_before_anything_is_created(db: Database) -> None:
    d = driver()
    out = provision(db, plan("R1", vcpus=1, ram_mb=4096), d)  # m1.small really has 2 vCPUs
    assert not out.ok and "flavor 'm1.small'" in (out.error or "") and "vCPU 1 ≠ 2" in (out.error or "")
    assert d.created_count == {}
    assert provision(db, plan("R2", vcpus=2, ram_mb=4096, disk_gb=20), d).ok


def test_an_unknown_flavor_is_a_permanent_failure(db: Database) -> None:
    d = driver()
    p = ProvisionPlan("R1", "mem", "yw-a", "A", servers=(ServerSpec("x", "m9.huge", "img"),))
    out = provision(db, p, d)
    assert not out.ok and "flavor 'm9.huge' not found" in (out.error or "") and d.calls["flavor"] == 1


# --- resume --------------------------------------------------------------------------------------------------------


def test_resume_checks_ready_steps_against_the_cloud_and_recreates_what_vanished(db: Database) -> None:
    d = driver()
    assert provision(db, plan("R1"), d).ok
    gone = next(o for o in d.objects.values() if o.kind == ResourceKind.SERVER)
    del d.objects[gone.cloud_id]  # deleted behind yunwang's back
    with db.session() as s:  # as if the process had died before marking the run done
        s.scalars(select(ProvisionRun)).one().status = RunStatus.RUNNING
    out = resume(db, "R1", d)
    assert out.ok
    assert servers_of(d) == 2 and d.created_count[ResourceKind.SERVER] == 3
    assert gone.cloud_id not in {r.cloud_id for r in out.resources}
    with db.session() as s:
        last = s.scalars(select(ChangeLog).filter_by(kind="provision_run").order_by(ChangeLog.id.desc())).first()
    assert last is not None and f"server:{gone.name}" in (last.message or "")


def test_resume_and_retire_of_a_cloud_without_a_run_say_so(db: Database) -> None:
    d = driver()
    with pytest.raises(NoRun, match="no provisioning run of R404 in cloud mem"):
        resume(db, "R404", d)
    with pytest.raises(NoRun):
        retire(db, "R404", d)


def test_flavor_tables_merge_and_a_name_with_two_sizes_is_ambiguous() -> None:
    from orchestrator.requests.flavors import merge, resolve_bundle
    from orchestrator.requests.lifecycle import Bundle

    table, ambiguous = merge(
        [
            ("gov-a", {"m1.tiny": TINY, "m1.small": SMALL}),
            ("gov-b", {"m1.tiny": TINY, "m1.small": FlavorSize(4, 8192, 40)}),
        ]
    )
    assert table == {"m1.tiny": TINY}
    assert ambiguous == {"m1.small": "flavor 'm1.small' differs between clouds gov-a and gov-b"}
    bundle = Bundle.model_validate(
        {
            "servers": [
                {"name": "a", "flavor": "m1.tiny", "image": "i"},
                {"name": "b", "flavor": "m1.small", "image": "i"},
            ]
        }
    )
    resolved, problems = resolve_bundle(bundle, table, ambiguous)
    assert [(p.field, p.message) for p in problems] == [
        ("bundle.servers[1].flavor", "flavor 'm1.small' differs between clouds gov-a and gov-b")
    ]
    assert (resolved.servers[0].vcpus, resolved.servers[0].ram_mb, resolved.servers[0].disk_gb) == (1, 512, 1)
