"""Requests under concurrency and faults, on the in-memory clouds: two requests of one unit at once, failure texts
(which part, which cloud, what was rolled back), resume to a final state, database errors mid-way, placement
refusals kept on the request, and server sizes from the flavor."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from core.audit import ChangeContext
from core.enums import Role
from core.errors import Conflict
from core.identity import Principal
from core.models import ChangeLog
from orchestrator.placement.engine import Decision, Removal
from orchestrator.provisioning import runs as provision_module
from orchestrator.provisioning.driver import CloudError, FlavorSize
from orchestrator.provisioning.models import ProvisionRun, ProvisionStep, RunStatus, StepStatus
from orchestrator.provisioning.plan import ProvisionOutcome, ResourceKind
from orchestrator.requests import provisioning_hook as rp
from orchestrator.requests import service as svc
from orchestrator.requests.api import get_capacity_source, get_flavor_catalog
from orchestrator.requests.lifecycle import Action, RequestStatus
from orchestrator.requests.provisioning_hook import part_failure, part_retired
from orchestrator.requests.service import NO_SAMPLE, refusal_text, with_sample_gaps
from tests.unit.orchestrator.conftest import World

OP = Principal("op", Role.CLOUD_OPERATOR)
CTX = ChangeContext(actor="op", role="cloud_operator")
BIG = {"servers": 3, "vcpus": 8, "ram_mb": 16384}


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision_module, "RETRY", provision_module.RetryPolicy(3, 0.001, 0.002))
    monkeypatch.setattr(provision_module, "SETTLE_S", 0.0)


@pytest.fixture
def one_cloud(world: World, app) -> World:  # type: ignore[no-untyped-def]
    """Only gov-nanning has capacity: every request of the unit lands in the same cloud and project."""
    app.dependency_overrides[get_capacity_source] = lambda: lambda session: [world.drivers["gov-nanning"].capacity()]
    return world


def owned(w: World, cloud: str, kind: ResourceKind | None = None) -> int:
    return sum(1 for o in w.drivers[cloud].objects.values() if o.marker and (kind is None or o.kind == kind))


def scheduled(w: World, dr_level: str = "none", **bundle: int) -> tuple[int, dict[str, object]]:
    rid = w.create(bundle=w.bundle(**(bundle or BIG)), dr_level=dr_level)["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    r = w.post("operator", f"{rid}/schedule")
    assert r.status_code == 200, r.text
    return rid, r.json()


def status_of(w: World, rid: int) -> dict[str, Any]:
    body: dict[str, Any] = w.client.get(f"/api/v1/requests/{rid}", headers=w.as_("admin")).json()
    return body


@contextmanager
def db_fails_on(w: World, statement_prefix: str, after: int) -> Iterator[dict[str, int]]:
    """Make the database refuse the (after+1)-th statement starting with `statement_prefix` (one fault)."""
    seen = {"n": 0, "fired": 0}

    def fail(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith(statement_prefix):
            seen["n"] += 1
            if seen["n"] == after + 1:
                seen["fired"] += 1
                raise OperationalError(statement, params, Exception("disk I/O error (injected)"))

    event.listen(w.db.engine, "before_cursor_execute", fail)
    try:
        yield seen
    finally:
        event.remove(w.db.engine, "before_cursor_execute", fail)


# --- pure texts ---------------------------------------------------------------------------------------------------


def test_failure_texts_name_the_cloud_once_and_say_which_part_and_what_was_rolled_back() -> None:
    out = ProvisionOutcome("RR1", "gov-guilin", False, (), "gov-guilin: create server: No valid host", True, 4)
    text = part_failure("replica", "gov-guilin", out.error, out)
    assert text == (
        "灾备副本 / replica gov-guilin 开通失败 / failed: create server: No valid host; "
        "已回滚 / rolled back there: 4 resource(s) deleted"
    )
    assert text.count("gov-guilin") == 1
    done = ProvisionOutcome("RR1", "gov-nanning", True, (), None, False, 7)
    assert (
        part_retired("primary", "gov-nanning", done)
        == "主用 / primary gov-nanning 已退役 / retired: 7 resource(s) deleted"
    )


def test_a_refusal_with_no_capacity_sample_says_so_and_names_the_clouds() -> None:
    d = Decision("RR1", False, error="no candidate at all: no cloud with a capacity sample")
    got = with_sample_gaps(d, ["gov-nanning", "gov-guilin"], [])
    assert got.error == "尚无任何云的容量采样 / no cloud has a capacity sample yet (gov-guilin, gov-nanning)"
    assert [(r.candidate, r.filter) for r in got.removed] == [
        ("gov-guilin", "capacity_sample"),
        ("gov-nanning", "capacity_sample"),
    ]
    text = refusal_text(got)
    assert text.splitlines()[1] == f"- gov-guilin: capacity_sample: {NO_SAMPLE}"
    kept = Decision("RR1", False, removed=(Removal("a/b/c", "capacity", "not enough"),), error="no candidate passes")
    assert with_sample_gaps(kept, [], []) is kept


# --- two requests of one unit at once -----------------------------------------------------------------------------


@pytest.mark.parametrize("managed", [False, True])
def test_two_requests_of_one_unit_provisioning_at_the_same_time_both_become_active(
    one_cloud: World, managed: bool
) -> None:
    """B is provisioned from start to end while A's run is in flight (between A's network and its servers):
    the two runs overlap exactly as two concurrent callers' would, deterministically, on SQLite."""
    w = one_cloud
    a, _ = scheduled(w, servers=2, vcpus=4, ram_mb=4096)
    b, _ = scheduled(w, servers=2, vcpus=4, ram_mb=4096)
    cloud = str(status_of(w, a)["primary_cloud"])
    assert status_of(w, b)["primary_cloud"] == cloud  # same unit, same cloud, same project
    d = w.drivers[cloud]
    d.default_instances = 4  # the cloud admin's limit: room for both (2 + 2), not for a third
    inner: dict[str, RequestStatus] = {}

    def b_meanwhile(op: str, kind: ResourceKind | None) -> CloudError | None:
        if op == "create" and kind == ResourceKind.SERVER and not inner:
            inner["b"] = RequestStatus.PROVISIONING
            inner["b"] = rp.provision(w.db, OP, CTX, b, w.drivers.__getitem__, manage_quota=managed).status
        return None

    d.fault = b_meanwhile
    first = rp.provision(w.db, OP, CTX, a, w.drivers.__getitem__, manage_quota=managed).status
    assert (first, inner["b"]) == (RequestStatus.ACTIVE, RequestStatus.ACTIVE)
    assert owned(w, cloud, ResourceKind.SERVER) == 4
    pid = next(iter(d.projects.values()))
    if managed:  # each run added its own 2 servers to the admin's 4 (cores/ram unlimited here: untouched)
        assert d.quotas[pid] == {"instances": 8}
    else:
        assert d.calls.get("set_quota", 0) == 0 and pid not in d.quotas


def test_a_cloud_quota_below_the_units_quota_fails_fast_naming_it(world: World) -> None:
    w = world
    assert (
        w.client.put(
            f"/api/v1/quotas/{w.ids['county_unit']}", json={"vcpus": 100, "instances": 10}, headers=w.as_("office")
        ).status_code
        == 200
    )
    rid, body = scheduled(w)
    d = w.drivers[str(body["primary_cloud"])]
    d.default_instances = 2  # the cloud admin's limit for the project: below the 3 servers yunwang approved
    r = w.post("operator", f"{rid}/provision").json()
    assert r["status"] == "failed"
    reason = r["failure_reason"]
    assert reason.startswith(f"主用 / primary {body['primary_cloud']} 开通失败 / failed: 云平台自身配额不足")
    assert "Nova 'instances' (云主机数 / servers): 0 in use + 3 requested > limit 2" in reason
    assert reason.count(str(body["primary_cloud"])) == 1
    assert owned(w, str(body["primary_cloud"])) == 0 and d.quotas == {}


def test_replica_failure_text_names_each_cloud_once_and_says_what_was_rolled_back(world: World) -> None:
    w = world
    rid, _ = scheduled(w, dr_level="remote_dr")
    w.drivers["gov-guilin"].fault = lambda op, kind: (
        CloudError("gov-guilin: create server: No valid host was found", status=400)
        if op == "create" and kind == ResourceKind.SERVER
        else None
    )
    r = w.post("operator", f"{rid}/provision").json()
    reason = r["failure_reason"]
    assert r["status"] == "failed"
    assert reason.startswith("灾备副本 / replica gov-guilin 开通失败 / failed: create server: No valid host was found")
    # the replica's network was created then deleted; the primary (network + 3 servers) was taken down again
    assert "rolled back there: 3 resource(s) deleted" in reason  # network, subnet, router
    assert "主用 / primary gov-nanning 已退役 / retired: 6 resource(s) deleted" in reason  # those + 3 servers
    assert reason.count("gov-guilin") == 1 and reason.count("gov-nanning") == 1
    assert owned(w, "gov-nanning") == owned(w, "gov-guilin") == 0


# --- resume --------------------------------------------------------------------------------------------------------


def test_resume_continues_with_the_replica_after_the_primary(world: World) -> None:
    w = world
    rid, body = scheduled(w, dr_level="remote_dr")
    code = str(body["code"])
    with w.db.session() as s:  # a process marked it provisioning, built the primary, then died
        svc.apply(s, OP, CTX, svc.get(s, OP, rid), Action.PROVISION)
        row = svc.get(s, OP, rid)
        primary = rp.plans_for(row, rp._unit_code(s, row.unit_id))[0]
    assert provision_module.provision(w.db, primary, w.drivers["gov-nanning"]).ok
    assert owned(w, "gov-guilin") == 0
    out = rp.resume(w.db, OP, CTX, rid, w.drivers.__getitem__)
    assert out.status == RequestStatus.ACTIVE
    assert owned(w, "gov-nanning", ResourceKind.SERVER) == owned(w, "gov-guilin", ResourceKind.SERVER) == 3
    assert w.drivers["gov-nanning"].created_count[ResourceKind.SERVER] == 3  # the primary was not built twice
    with w.db.session() as s:
        assert {r.cloud: r.status for r in s.scalars(select(ProvisionRun).filter_by(request_id=code))} == {
            "gov-nanning": RunStatus.DONE,
            "gov-guilin": RunStatus.DONE,
        }


def test_resume_of_a_failed_part_ends_failed_with_its_reason(world: World) -> None:
    w = world
    rid, _ = scheduled(w)
    with w.db.session() as s:
        svc.apply(s, OP, CTX, svc.get(s, OP, rid), Action.PROVISION)
        row = svc.get(s, OP, rid)
        plan = rp.plans_for(row, rp._unit_code(s, row.unit_id))[0]
    d = w.drivers[plan.cloud]
    d.fault = lambda op, kind: (
        CloudError("boom", status=400) if kind == ResourceKind.SERVER and op == "create" else None
    )
    assert not provision_module.provision(w.db, plan, d).ok  # rolled back, then the process died
    d.fault = None
    out = rp.resume(w.db, OP, CTX, rid, w.drivers.__getitem__)
    assert out.status == RequestStatus.FAILED
    assert status_of(w, rid)["failure_reason"] == (
        f"主用 / primary {plan.cloud} 开通失败 / failed: boom; 已回滚 / rolled back there: 3 resource(s) deleted"
    )
    assert owned(w, plan.cloud) == 0 and d.created_count.get(ResourceKind.SERVER, 0) == 0


def test_resume_with_nothing_to_resume_is_a_conflict_with_a_message(world: World) -> None:
    w = world
    rid = w.create()["id"]
    with pytest.raises(Conflict, match="nothing to resume: the request is draft"):
        rp.resume(w.db, OP, CTX, rid, w.drivers.__getitem__)


# --- database errors mid-way ---------------------------------------------------------------------------------------


def test_a_database_error_mid_retirement_leaves_it_retiring_and_a_second_call_finishes(one_cloud: World) -> None:
    w = one_cloud
    keep, _ = scheduled(w, servers=1, vcpus=2, ram_mb=4096)  # another active request of the unit
    rid, body = scheduled(w)
    cloud = str(body["primary_cloud"])
    for x in (keep, rid):
        assert w.post("operator", f"{x}/provision").json()["status"] == "active"
    assert owned(w, cloud, ResourceKind.SERVER) == 4
    with db_fails_on(w, "UPDATE provision_steps", after=2) as seen, pytest.raises(OperationalError):
        rp.retire(w.db, OP, CTX, rid, w.drivers.__getitem__)
    assert seen["fired"] == 1
    assert status_of(w, rid)["status"] == "retiring"  # a recorded state, not half of one
    with w.db.session() as s:
        run = s.scalars(select(ProvisionRun).filter_by(request_id=body["code"])).one()
        assert run.status == RunStatus.RETIRING
    # 10 owned before (each request: network, subnet, router + its servers); 3 servers went before the fault
    assert owned(w, cloud) == 7
    again = w.post("operator", f"{rid}/retire").json()
    assert again["status"] == "retired", again
    assert owned(w, cloud, ResourceKind.SERVER) == 1  # only the other request's server is left
    usage = w.client.get(f"/api/v1/quotas/{w.ids['county_unit']}", headers=w.as_("dept")).json()["usage"]
    assert (usage["vcpus"], usage["instances"]) == (2, 1)  # subtracted once: the other request's 2 vCPUs remain


def test_a_database_error_mid_provisioning_leaves_it_provisioning_and_a_second_call_finishes(world: World) -> None:
    w = world
    rid, body = scheduled(w)
    cloud = str(body["primary_cloud"])
    with db_fails_on(w, "UPDATE provision_steps", after=5), pytest.raises(OperationalError):
        rp.provision(w.db, OP, CTX, rid, w.drivers.__getitem__)
    assert status_of(w, rid)["status"] == "provisioning"
    again = w.post("operator", f"{rid}/provision").json()
    assert again["status"] == "active", again
    assert owned(w, cloud, ResourceKind.SERVER) == 3
    assert w.drivers[cloud].created_count[ResourceKind.SERVER] == 3  # adopted, not duplicated
    with w.db.session() as s:
        steps = s.scalars(select(ProvisionStep)).all()
        assert {st.status for st in steps if st.owned} == {StepStatus.READY}


def test_retire_with_a_cloud_error_stays_retiring_with_the_reason_and_finishes_later(world: World) -> None:
    w = world
    rid, body = scheduled(w)
    cloud = str(body["primary_cloud"])
    w.post("operator", f"{rid}/provision")
    d = w.drivers[cloud]
    d.fault = lambda op, kind: CloudError(f"{cloud}: delete: unreachable", transient=True) if op == "delete" else None
    r = w.post("operator", f"{rid}/retire").json()
    assert r["status"] == "retiring"
    assert r["failure_reason"].startswith(
        f"主用 / primary {cloud} 退役未完成 / retirement incomplete: delete: unreachable"
    )
    kinds = [e["kind"] for e in w.client.get(f"/api/v1/requests/{rid}/events", headers=w.as_("admin")).json()]
    assert kinds[-1] == "interrupted"
    d.fault = None
    assert w.post("operator", f"{rid}/retire").json()["status"] == "retired"
    assert owned(w, cloud) == 0


# --- placement refusals are kept on the request ------------------------------------------------------------------


def test_a_placement_refusal_is_recorded_with_its_reasons(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(servers=20, vcpus=8, ram_mb=8192))["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    before = w.changes()
    r = w.post("operator", f"{rid}/schedule")
    assert r.status_code == 409
    got = status_of(w, rid)
    assert got["status"] == "approved"
    assert got["placement"]["ok"] is False and got["placement"]["error"] == "no candidate passes every filter"
    events = w.client.get(f"/api/v1/requests/{rid}/events", headers=w.as_("dept")).json()
    refused = [e for e in events if e["kind"] == "placement_refused"]
    assert len(refused) == 1
    assert "not enough free capacity: vcpus 64 < 160" in refused[0]["message"]
    assert w.changes() == before + 1


def test_scheduling_with_no_capacity_sample_says_so(world: World, app) -> None:  # type: ignore[no-untyped-def]
    w = world
    app.dependency_overrides[get_capacity_source] = lambda: lambda session: []  # the capacity job has not run yet
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    r = w.post("operator", f"{rid}/schedule")
    assert r.status_code == 409
    msg = r.json()["error"]["message"]
    assert "no cloud has a capacity sample yet (gov-guilin, gov-nanning, legacy)" in msg
    events = w.client.get(f"/api/v1/requests/{rid}/events", headers=w.as_("dept")).json()
    assert "yunwang cloud sweep" in events[-1]["message"] and events[-1]["kind"] == "placement_refused"


# --- server sizes come from the flavor -----------------------------------------------------------------------------


def test_server_sizes_come_from_the_flavor_and_declared_ones_must_match(world: World, app) -> None:  # type: ignore[no-untyped-def]
    w = world
    app.dependency_overrides[get_flavor_catalog] = lambda: lambda: ({"m1.small": FlavorSize(2, 4096, 20)}, {})
    server = {"name": "web", "flavor": "m1.small", "image": "cirros", "count": 3}
    body = {"title": "t", "unit_id": w.ids["county_unit"], "bundle": {"servers": [server]}}
    r = w.client.post("/api/v1/requests", json=body, headers=w.as_("dept"))
    assert r.status_code == 201, r.text
    assert r.json()["demand"] == {"vcpus": 6, "ram_mb": 12288, "disk_gb": 60, "instances": 3, "floating_ips": 0}
    assert r.json()["bundle"]["servers"][0]["vcpus"] == 2
    before = w.changes()
    wrong = {**body, "bundle": {"servers": [{**server, "vcpus": 1, "ram_mb": 4096}]}}
    r = w.client.post("/api/v1/requests", json=wrong, headers=w.as_("dept"))
    assert r.status_code == 422
    assert [(d["field"], d["value"]) for d in r.json()["error"]["details"]] == [("bundle.servers[0].vcpus", 1)]
    unknown = {**body, "bundle": {"servers": [{**server, "flavor": "m9.huge"}]}}
    r = w.client.post("/api/v1/requests", json=unknown, headers=w.as_("dept"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "bundle.servers[0].flavor"
    assert w.changes() == before  # nothing written
    assert len(w.client.get("/api/v1/requests", headers=w.as_("admin")).json()) == 1


def test_without_a_flavor_table_sizes_must_be_declared(world: World) -> None:
    w = world
    body = {
        "title": "t",
        "unit_id": w.ids["county_unit"],
        "bundle": {"servers": [{"name": "web", "flavor": "m1.small", "image": "cirros"}]},
    }
    r = w.client.post("/api/v1/requests", json=body, headers=w.as_("dept"))
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"bundle.servers[0].vcpus", "bundle.servers[0].ram_mb"}


def test_changes_to_cloud_quotas_are_in_the_change_log_only_in_managed_mode(world: World) -> None:
    w = world
    rid, _ = scheduled(w, servers=1, vcpus=2, ram_mb=4096)
    assert rp.provision(w.db, OP, CTX, rid, w.drivers.__getitem__).status == RequestStatus.ACTIVE
    with w.db.session() as s:
        assert s.scalars(select(ChangeLog).filter_by(kind="cloud_quota")).all() == []


def test_three_provision_calls_at_once_create_each_server_once(world: World) -> None:
    """Review finding: three parallel provision calls left two extra servers nobody tracked (not retired either)."""
    w = world
    rid, decision = scheduled(w)
    primary = str(decision["primary_cloud"])
    barrier = threading.Barrier(3)

    def call() -> int:
        barrier.wait()
        return int(w.post("operator", f"{rid}/provision").status_code)

    with ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(lambda _: call(), range(3)))
    assert codes == [200, 200, 200], codes
    assert status_of(w, rid)["status"] == "active"
    assert owned(w, primary, ResourceKind.SERVER) == 3  # BIG: 3 servers, each created once
    assert w.drivers[primary].created_count[ResourceKind.SERVER] == 3  # none created and deleted again either
    assert w.post("operator", f"{rid}/retire").json()["status"] == "retired"
    assert owned(w, primary) == 0  # nothing of the request is left in the cloud
