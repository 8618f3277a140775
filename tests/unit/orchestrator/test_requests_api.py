"""The scheduler API end to end on the in-memory cloud: request → approval → placement → provisioning → retirement."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy import event

from core.audit import ChangeContext
from core.enums import Role
from core.identity import Principal
from core.tasks import engine
from core.tasks.registry import spec
from orchestrator.provisioning.driver import CloudError
from orchestrator.provisioning.plan import ResourceKind
from orchestrator.requests import service as svc
from orchestrator.requests.lifecycle import Action
from tests.task_jobs import wait_job
from tests.unit.orchestrator.conftest import World

BIG = {"servers": 3, "vcpus": 8, "ram_mb": 16384}  # above the auto-approval limits


def servers_in(w: World, cloud: str) -> int:
    return sum(1 for o in w.drivers[cloud].objects.values() if o.kind == ResourceKind.SERVER)


def test_full_lifecycle_through_both_approval_levels_placement_provisioning_and_retirement(world: World) -> None:
    w = world
    req = w.create(bundle=w.bundle(**BIG))
    rid = req["id"]
    assert req["status"] == "draft" and req["approver_unit_id"] == w.ids["city_unit"]
    assert req["demand"]["vcpus"] == 24

    r = w.post("dept", f"{rid}/submit")
    assert r.status_code == 200 and r.json()["status"] == "submitted" and not r.json()["first_level_done"]

    assert w.post("office", f"{rid}/approve", {"comment": "too early"}).status_code == 409  # first level first
    r = w.post("city_chief", f"{rid}/approve", {"comment": "同意，报云长办"})
    assert r.json()["first_level_done"] and r.json()["status"] == "submitted"
    r = w.post("office", f"{rid}/approve", {"comment": "批准"})
    assert r.json()["status"] == "approved"

    r = w.post("operator", f"{rid}/schedule")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "scheduled" and body["primary_cloud"] in ("gov-nanning", "gov-guilin")
    removed = {(x["candidate"].split("/")[0], x["filter"]) for x in body["placement"]["removed"]}
    assert ("legacy", "gov_cloud") in removed

    started = w.client.post(f"/api/v1/requests/{rid}/provision", headers=w.as_("operator"))
    assert started.status_code == 202, started.text  # the job at once; it runs in the background
    job = started.json()["job"]
    assert job["name"] == "requests.provision" and job["subject"] == f"resource_requests:{rid}"
    assert started.headers["Location"] == job["url"] == f"/api/v1/tasks/{job['id']}"
    done = wait_job(w.client, job["url"], w.as_("operator"))
    assert (done["status"], done["attempts"], done["result"]["status"]) == ("succeeded", 1, "active")
    jobs = w.client.get(f"/api/v1/requests/{rid}/jobs", headers=w.as_("dept")).json()  # the requester sees it
    assert [(j["id"], j["status"]) for j in jobs] == [(job["id"], "succeeded")]
    r = w.client.get(f"/api/v1/requests/{rid}", headers=w.as_("operator"))
    assert r.json()["status"] == "active"
    # the job list: the newest, without results (one job's route has it), filtered before its limit
    listed = w.client.get("/api/v1/tasks", params={"limit": 1}, headers=w.as_("operator")).json()
    assert [(j["id"], j["result"]) for j in listed["items"]] == [(job["id"], None)]
    assert (listed["total"], listed["limit"], listed["offset"]) == (1, 1, 0)
    me = w.client.get("/api/v1/me", headers=w.as_("dept")).json()["name"]
    others = [engine.new_job(w.db, spec("requests.provision"), {"n": n}, None, "someone-else")[0].id for n in range(60)]
    mine = engine.new_job(w.db, spec("requests.provision"), {"n": 99}, None, me)[0].id
    engine.new_job(w.db, spec("requests.provision"), {"n": 100}, None, "someone-else")  # newer than mine
    assert len(others) == 60
    seen = w.client.get("/api/v1/tasks", headers=w.as_("dept")).json()  # a unit's user: their own jobs, and
    assert [j["id"] for j in seen["items"]] == [mine, job["id"]]  # its unit's request's (core/tasks/visibility.py)
    assert seen["total"] == 2
    everything = w.client.get("/api/v1/tasks", params={"offset": 60, "limit": 5}, headers=w.as_("operator")).json()
    # 1 provisioning + 60 others + mine + 1 newer = 63 jobs; newest first, the 61st to 63rd: the oldest three
    assert (everything["total"], len(everything["items"]), everything["offset"]) == (63, 3, 60)
    assert everything["items"][-1]["id"] == job["id"]
    assert servers_in(w, body["primary_cloud"]) == 3
    assert {x["kind"] for x in r.json()["resources"]} >= {"server", "network"}
    usage = w.client.get(f"/api/v1/quotas/{w.ids['county_unit']}", headers=w.as_("dept")).json()["usage"]
    assert usage["vcpus"] == 24 and usage["instances"] == 3

    r = w.post("operator", f"{rid}/retire")
    assert r.json()["status"] == "retired"
    assert servers_in(w, body["primary_cloud"]) == 0
    usage = w.client.get(f"/api/v1/quotas/{w.ids['county_unit']}", headers=w.as_("dept")).json()["usage"]
    assert usage["vcpus"] == 0

    kinds = [e["kind"] for e in w.client.get(f"/api/v1/requests/{rid}/events", headers=w.as_("dept")).json()]
    assert kinds == [
        "created",
        "submitted",
        "first_approved",
        "approved",
        "scheduled",
        "provisioning",
        "active",
        "retiring",
        "retired",
    ]
    log = w.client.get("/api/v1/inventory/changes?kind=resource_requests&limit=100", headers=w.as_("auditor")).json()
    actors = [(c["actor_role"], c["after"]["status"]) for c in log["items"] if c["object_id"] == rid]
    assert ("sub_cloud_chief", "submitted") in actors and ("cloud_chief_office", "approved") in actors


def test_repeating_a_transition_returns_current_state_without_a_second_audit_entry(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    before = w.changes()
    events_before = len(w.client.get(f"/api/v1/requests/{rid}/events", headers=w.as_("dept")).json())
    r1 = w.post("city_chief", f"{rid}/approve")
    r2 = w.post("dept", f"{rid}/submit")
    assert r1.status_code == r2.status_code == 200
    assert r2.json()["status"] == "submitted"
    assert w.changes() == before
    assert len(w.client.get(f"/api/v1/requests/{rid}/events", headers=w.as_("dept")).json()) == events_before


def test_illegal_transition_is_a_409_with_the_reason(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    r = w.post("operator", f"{rid}/provision")
    assert r.status_code == 409
    assert "draft" in r.json()["error"]["message"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/reject", {"comment": "材料不全"})
    r = w.post("office", f"{rid}/approve")
    assert r.status_code == 409 and "rejected" in r.json()["error"]["message"]


def test_forbidden_calls_fail_with_403_and_write_nothing(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    w.post("dept", f"{rid}/submit")
    before = w.changes()
    events_before = len(w.client.get("/api/v1/events", headers=w.as_("admin")).json())
    attempts = [
        ("auditor", f"{rid}/approve", None),
        ("dept", f"{rid}/approve", None),
        ("bureau_chief", f"{rid}/approve", None),  # a sub-cloud chief above, but not the nearest one
        ("operator", f"{rid}/approve", None),
        ("dept", f"{rid}/schedule", None),
        ("office", f"{rid}/provision", None),
        ("auditor", f"{rid}/reject", {"comment": "no"}),
        ("netadmin", f"{rid}/submit", None),
    ]
    for who, path, body in attempts:
        r = w.post(who, path, body)
        assert r.status_code == 403, (who, path, r.status_code, r.text)
    r = w.client.post(
        "/api/v1/requests",
        json={"title": "x", "unit_id": w.ids["county_unit"], "bundle": w.bundle()},
        headers=w.as_("auditor"),
    )
    assert r.status_code == 403
    assert w.post("other_dept", f"{rid}/submit").status_code == 404  # outside its scope the request does not exist
    r = w.client.put(f"/api/v1/quotas/{w.ids['county_unit']}", json={"vcpus": 1}, headers=w.as_("dept"))
    assert r.status_code == 403
    assert w.changes() == before
    assert len(w.client.get("/api/v1/events", headers=w.as_("admin")).json()) == events_before
    assert w.client.get(f"/api/v1/requests/{rid}", headers=w.as_("admin")).json()["status"] == "submitted"


def test_department_user_sees_only_its_own_units_requests_and_events(world: World) -> None:
    w = world
    rid = w.create()["id"]
    assert w.client.get(f"/api/v1/requests/{rid}", headers=w.as_("other_dept")).status_code == 404
    assert w.client.get("/api/v1/requests", headers=w.as_("other_dept")).json() == []
    assert w.client.get("/api/v1/events", headers=w.as_("other_dept")).json() == []
    assert [x["id"] for x in w.client.get("/api/v1/requests", headers=w.as_("dept")).json()] == [rid]
    r = w.client.post(
        "/api/v1/requests",
        json={"title": "x", "unit_id": w.ids["county_unit"], "bundle": w.bundle()},
        headers=w.as_("other_dept"),
    )
    assert r.status_code == 403


def test_classified_system_can_never_be_requested_for_a_cloud(world: World) -> None:
    w = world
    body = {
        "title": "涉密系统",
        "unit_id": w.ids["county_unit"],
        "system_id": w.ids["classified_system"],
        "bundle": w.bundle(),
    }
    r = w.client.post("/api/v1/requests", json=body, headers=w.as_("dept"))
    assert r.status_code == 422
    assert "classified" in r.json()["error"]["message"]
    assert w.client.get("/api/v1/requests", headers=w.as_("admin")).json() == []


def test_small_request_within_quota_is_auto_approved_with_who_and_why(world: World) -> None:
    w = world
    rid = w.create(system_id=w.ids["system"])["id"]
    r = w.post("dept", f"{rid}/submit")
    assert r.json()["status"] == "approved"
    events = w.client.get(f"/api/v1/requests/{rid}/events", headers=w.as_("dept")).json()
    auto = [e for e in events if e["kind"] == "auto_approved"]
    assert auto and auto[-1]["actor"] == "system:auto-approval"
    assert "within quota" in auto[-1]["message"] and "vCPUs" in auto[-1]["message"]


def test_unit_without_sub_cloud_chief_goes_straight_to_the_office(world: World) -> None:
    w = world
    rid = w.create(who="other_dept", unit="other_unit", bundle=w.bundle(**BIG))["id"]
    r = w.post("other_dept", f"{rid}/submit")
    assert r.json()["first_level_done"] and r.json()["status"] == "submitted"
    assert w.post("office", f"{rid}/approve", {"comment": "ok"}).json()["status"] == "approved"


def test_comments_are_events(world: World) -> None:
    w = world
    rid = w.create()["id"]
    r = w.client.post(f"/api/v1/requests/{rid}/comments", json={"text": "请补充等保材料"}, headers=w.as_("city_chief"))
    assert r.status_code == 201 and r.json()["kind"] == "comment"
    assert (
        w.client.post(f"/api/v1/requests/{rid}/comments", json={"text": "x"}, headers=w.as_("auditor")).status_code
        == 403
    )
    msgs = [e["message"] for e in w.client.get("/api/v1/events", headers=w.as_("dept")).json()]
    assert "请补充等保材料" in msgs


def test_quota_hierarchy_child_cannot_exceed_parent_and_allocations_are_capped(world: World) -> None:
    w = world
    city, county = w.ids["city_unit"], w.ids["county_unit"]
    assert w.client.put(f"/api/v1/quotas/{city}", json={"vcpus": 30}, headers=w.as_("office")).status_code == 200
    r = w.client.put(f"/api/v1/quotas/{county}", json={"vcpus": 40}, headers=w.as_("office"))
    assert r.status_code == 422 and "parent" in r.text
    assert w.client.put(f"/api/v1/quotas/{county}", json={"vcpus": 25}, headers=w.as_("office")).status_code == 200
    r = w.client.put(f"/api/v1/quotas/{city}", json={"vcpus": 20}, headers=w.as_("office"))
    assert r.status_code == 422 and "child" in r.text
    # 24 vCPUs fit the county's 25 and the city's 30 …
    first = w.create(bundle=w.bundle(**BIG))["id"]
    assert w.post("dept", f"{first}/submit").status_code == 200
    w.post("city_chief", f"{first}/approve")
    w.post("office", f"{first}/approve")
    # … the approved one reserves them: the next 8 would break the county's 25 (and the city's 30)
    second = w.create(bundle=w.bundle(servers=1, vcpus=8, ram_mb=4096))["id"]
    r = w.post("dept", f"{second}/submit")
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"vcpus"}
    assert w.client.get(f"/api/v1/requests/{second}", headers=w.as_("dept")).json()["status"] == "draft"
    q = w.client.get(f"/api/v1/quotas/{county}", headers=w.as_("dept")).json()
    assert q["headroom"]["vcpus"] == 1


def test_dr_request_gets_primary_in_nanning_and_replica_in_guilin_on_both_clouds(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(**BIG), dr_level="remote_dr")["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    r = w.post("operator", f"{rid}/schedule").json()
    assert (r["primary_cloud"], r["replica_cloud"]) == ("gov-nanning", "gov-guilin")
    assert r["demand"]["vcpus"] == 48  # the replica counts in quota
    r = w.post("operator", f"{rid}/provision").json()
    assert r["status"] == "active"
    assert servers_in(w, "gov-nanning") == 3 and servers_in(w, "gov-guilin") == 3
    assert w.post("operator", f"{rid}/retire").json()["status"] == "retired"
    assert servers_in(w, "gov-nanning") == servers_in(w, "gov-guilin") == 0


def test_replica_failure_fails_the_request_with_reason_and_takes_the_primary_down(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(**BIG), dr_level="active_active")["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    w.post("operator", f"{rid}/schedule")
    w.drivers["gov-guilin"].fault = lambda op, kind: (
        CloudError("No valid host was found", status=400) if op == "create" and kind == ResourceKind.SERVER else None
    )
    r = w.post("operator", f"{rid}/provision").json()
    assert r["status"] == "failed"
    assert "gov-guilin" in r["failure_reason"] and "No valid host" in r["failure_reason"]
    assert servers_in(w, "gov-nanning") == 0 and servers_in(w, "gov-guilin") == 0
    usage = w.client.get(f"/api/v1/quotas/{w.ids['county_unit']}", headers=w.as_("dept")).json()["usage"]
    assert usage["vcpus"] == 0


def test_scheduling_with_no_capacity_is_a_409_that_explains_and_keeps_the_request_approved(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(servers=20, vcpus=8, ram_mb=8192))["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    r = w.post("operator", f"{rid}/schedule")
    assert r.status_code == 409
    assert any("capacity" in d["message"] for d in r.json()["error"]["details"])
    assert w.client.get(f"/api/v1/requests/{rid}", headers=w.as_("dept")).json()["status"] == "approved"


def test_requests_by_state_gauge(world: World, registry: CollectorRegistry) -> None:
    w = world
    w.create()
    rid = w.create()["id"]
    w.post("dept", f"{rid}/submit")  # auto-approved
    assert registry.get_sample_value("yunwang_resource_requests", {"status": "draft"}) == 1
    assert registry.get_sample_value("yunwang_resource_requests", {"status": "approved"}) == 1
    assert registry.get_sample_value("yunwang_resource_requests", {"status": "active"}) == 0


def test_scheduled_but_unprovisioned_requests_hold_their_capacity(world: World) -> None:
    w = world
    # each cloud has 64 vCPUs; 7 × 8 = 56 fits once per cloud, and the legacy cloud is not eligible
    placed = []
    for _ in range(3):
        rid = w.create(bundle=w.bundle(servers=7, vcpus=8, ram_mb=8192))["id"]
        w.post("dept", f"{rid}/submit")
        w.post("city_chief", f"{rid}/approve")
        w.post("office", f"{rid}/approve")
        placed.append(w.post("operator", f"{rid}/schedule"))
    assert [r.status_code for r in placed] == [200, 200, 409]
    assert {placed[0].json()["primary_cloud"], placed[1].json()["primary_cloud"]} == {"gov-nanning", "gov-guilin"}


def test_approval_reserves_quota_so_two_requests_cannot_both_be_approved_past_a_limit(world: World) -> None:
    w = world
    assert (
        w.client.put(f"/api/v1/quotas/{w.ids['county_unit']}", json={"vcpus": 30}, headers=w.as_("office")).status_code
        == 200
    )
    first, second = (w.create(bundle=w.bundle(**BIG))["id"] for _ in range(2))
    for rid in (first, second):  # each fits alone (24 ≤ 30)
        assert w.post("dept", f"{rid}/submit").json()["status"] == "submitted"
        w.post("city_chief", f"{rid}/approve")
    assert w.post("office", f"{first}/approve").json()["status"] == "approved"
    r = w.post("office", f"{second}/approve")
    assert r.status_code == 422 and "quota" in r.json()["error"]["message"]
    assert w.client.get(f"/api/v1/requests/{second}", headers=w.as_("dept")).json()["status"] == "submitted"


def test_a_request_left_in_provisioning_is_driven_on_without_duplicates(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    cloud = w.post("operator", f"{rid}/schedule").json()["primary_cloud"]
    with w.db.session() as s:  # a process that marked it provisioning, then died
        row = svc.get(s, Principal("op", Role.CLOUD_OPERATOR), rid)
        svc.apply(s, Principal("op", Role.CLOUD_OPERATOR), ChangeContext(actor="op"), row, Action.PROVISION)
    r = w.post("operator", f"{rid}/provision")
    assert r.json()["status"] == "active"
    assert servers_in(w, cloud) == 3
    assert w.post("operator", f"{rid}/provision").json()["status"] == "active"  # a repeat changes nothing
    assert servers_in(w, cloud) == 3 and w.drivers[cloud].created_count[ResourceKind.SERVER] == 3


def test_listing_requests_and_events_costs_the_same_queries_for_2_or_8_requests(world: World) -> None:
    w = world
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def queries_for(path: str) -> int:
        statements.clear()
        event.listen(w.db.engine, "before_cursor_execute", count)
        try:
            assert w.client.get(path, headers=w.as_("dept")).status_code == 200
        finally:
            event.remove(w.db.engine, "before_cursor_execute", count)
        return len(statements)

    for _ in range(2):
        w.create()
    few = (queries_for("/api/v1/requests"), queries_for("/api/v1/events"))
    for _ in range(6):
        w.create()
    assert len(w.client.get("/api/v1/requests", headers=w.as_("dept")).json()) == 8
    assert (queries_for("/api/v1/requests"), queries_for("/api/v1/events")) == few
