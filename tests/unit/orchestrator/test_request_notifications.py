"""Request events reach the right people: approvers of the next step (scoped to the request's unit), then the
requester and the department users of its unit. Each person subscribes to every event type for themselves."""

from __future__ import annotations

from collections import Counter

from core.notifications.models import EventType
from orchestrator.provisioning.driver import CloudError
from orchestrator.provisioning.plan import ResourceKind
from tests.unit.orchestrator.conftest import World

BIG = {"servers": 3, "vcpus": 8, "ram_mb": 16384}  # above the auto-approval limits
PEOPLE = ("dept", "other_dept", "city_chief", "bureau_chief", "office", "operator", "netadmin")


def subscribe_everyone(w: World) -> None:
    for who in PEOPLE:
        body = {"event_types": [t.value for t in EventType], "channel": "email", "address": f"{who}@example.org"}
        r = w.client.post("/api/v1/notifications/subscriptions", json=body, headers=w.as_(who))
        assert r.status_code == 201, r.text


def received(w: World) -> dict[str, Counter[str]]:
    out = {}
    for who in PEOPLE:
        r = w.client.get("/api/v1/notifications/deliveries", headers=w.as_(who))
        assert r.status_code == 200, r.text
        out[who] = Counter(d["event_type"] for d in r.json()["items"])
    return out


def test_two_level_approval_then_provisioning_notifies_exactly_the_right_people(world: World) -> None:
    w = world
    subscribe_everyone(w)
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    assert w.post("dept", f"{rid}/submit").json()["status"] == "submitted"
    assert w.post("city_chief", f"{rid}/approve", {"comment": "同意"}).json()["first_level_done"]
    assert w.post("office", f"{rid}/approve", {"comment": "批准"}).json()["status"] == "approved"
    assert w.post("operator", f"{rid}/schedule").status_code == 200
    assert w.post("operator", f"{rid}/provision").json()["status"] == "active"
    got = received(w)
    # by hand: submit → first-level waiting to the city chief only (the bureau chief's subtree holds the request,
    # but first approval is the city unit's); first approval → final waiting to the office; approved and
    # provisioned → the requester (dept); nobody else
    assert got == {
        "dept": Counter({"request_approved": 1, "request_provisioned": 1}),
        "other_dept": Counter(),
        "city_chief": Counter({"approval_waiting": 1}),
        "bureau_chief": Counter(),
        "office": Counter({"approval_waiting": 1}),
        "operator": Counter(),
        "netadmin": Counter(),
    }


def test_auto_approved_request_tells_nobody_it_waits(world: World) -> None:
    w = world
    subscribe_everyone(w)
    rid = w.create()["id"]  # small: the system approves at submission
    assert w.post("dept", f"{rid}/submit").json()["status"] == "approved"
    got = received(w)
    assert got["dept"] == Counter({"request_approved": 1})
    assert sum(sum(c.values()) for c in got.values()) == 1  # nothing else to anyone


def test_rejection_reaches_the_requester_with_the_reason(world: World) -> None:
    w = world
    subscribe_everyone(w)
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    w.post("dept", f"{rid}/submit")
    assert w.post("city_chief", f"{rid}/reject", {"comment": "资源过大"}).json()["status"] == "rejected"
    items = w.client.get("/api/v1/notifications/deliveries", headers=w.as_("dept")).json()["items"]
    assert [(d["event_type"], d["status"], d["attempts"]) for d in items] == [("request_rejected", "pending", 0)]
    assert received(w)["city_chief"] == Counter({"approval_waiting": 1})


def test_the_admin_standing_in_for_the_first_level_makes_the_office_wait(world: World) -> None:
    w = world
    subscribe_everyone(w)
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    w.post("dept", f"{rid}/submit")
    first = w.post("admin", f"{rid}/approve", {"comment": "代为初审"}).json()
    assert (first["status"], first["first_level_done"]) == ("submitted", True)  # one level, never both
    assert w.post("office", f"{rid}/approve").json()["status"] == "approved"
    got = received(w)
    # by hand: submission → the city chief waits (1); the admin's first level → the office waits (1);
    # the office's approval → the requester (1)
    assert (got["city_chief"], got["office"], got["dept"]) == (
        Counter({"approval_waiting": 1}),
        Counter({"approval_waiting": 1}),
        Counter({"request_approved": 1}),
    )


def test_failed_provisioning_tells_the_requester_each_time_with_the_reason(world: World) -> None:
    w = world
    subscribe_everyone(w)
    rid = w.create(bundle=w.bundle(**BIG))["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    primary = w.post("operator", f"{rid}/schedule").json()["primary_cloud"]
    w.drivers[primary].fault = lambda op, kind: (
        CloudError("No valid host was found", status=400) if op == "create" and kind == ResourceKind.SERVER else None
    )
    assert w.post("operator", f"{rid}/provision").json()["status"] == "failed"
    items = w.client.get("/api/v1/notifications/deliveries", headers=w.as_("dept")).json()["items"]
    failed = [d for d in items if d["event_type"] == "request_failed"]
    assert len(failed) == 1 and "开通失败" in failed[0]["title"]
