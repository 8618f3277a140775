"""Who sees a background job is one rule (core/tasks/visibility.py), the same on every route that shows one:
`GET /api/v1/tasks/{id}` and the list, a request's `GET /api/v1/requests/{id}/jobs`, and the probe jobs
`GET /api/v1/collectors/probe-jobs…`. Every role of the small Guangxi (tests/unit/orchestrator/conftest.py) against
each route; the expected answers are counted by hand from the rule:

- J1: a provisioning job of a request of the county unit, asked by an operator who is none of the callers → whoever
  may read the request: the unscoped readers (admin, office, operator, auditor), the county's own user and both
  chiefs above it; not the other unit's user, not the network admin (not a reader of requests);
- J2: a probe job asked by a network admin who is none of the callers → the unscoped roles only;
- J3: a probe job asked by the county's user → the unscoped roles and that user.
"""

from __future__ import annotations

from core.tasks import engine
from core.tasks.registry import spec
from tests.unit.orchestrator.conftest import World

WHO = ("admin", "dept", "other_dept", "city_chief", "bureau_chief", "office", "operator", "auditor", "netadmin")


def _jobs(w: World) -> tuple[int, str, str, str]:
    rid = int(w.create()["id"])  # a draft of the county unit, by its user
    me = w.client.get("/api/v1/me", headers=w.as_("dept")).json()["name"]
    probe = {"node_ids": [], "kinds": ["icmp"], "vantage": None}
    j1 = engine.new_job(w.db, spec("requests.provision"), {"request_id": rid}, f"resource_requests:{rid}", "op-x")
    j2 = engine.new_job(w.db, spec("collectors.probe_now"), probe, None, "netadmin-x")
    j3 = engine.new_job(w.db, spec("collectors.probe_now"), probe, None, me)
    return rid, j1[0].id, j2[0].id, j3[0].id


def _codes(w: World, path: str) -> dict[str, int]:
    return {who: w.client.get(path, headers=w.as_(who)).status_code for who in WHO}


def test_one_rule_for_a_job_on_every_route_for_every_role(world: World) -> None:
    w = world
    rid, j1, j2, j3 = _jobs(w)
    request_job = {
        "admin": 200,
        "dept": 200,
        "other_dept": 404,
        "city_chief": 200,
        "bureau_chief": 200,
        "office": 200,
        "operator": 200,
        "auditor": 200,
        "netadmin": 404,
    }
    assert _codes(w, f"/api/v1/tasks/{j1}") == request_job
    # the request's own jobs: the same callers (the network admin is stopped by the permission table: 403)
    assert _codes(w, f"/api/v1/requests/{rid}/jobs") == {**request_job, "netadmin": 403}
    for who, code in request_job.items():
        if code == 200:
            listed = w.client.get(f"/api/v1/requests/{rid}/jobs", headers=w.as_(who)).json()
            assert [j["id"] for j in listed] == [j1], who

    probe_job = {
        "admin": 200,
        "dept": 404,
        "other_dept": 404,
        "city_chief": 404,
        "bureau_chief": 404,
        "office": 200,
        "operator": 200,
        "auditor": 200,
        "netadmin": 200,
    }
    assert _codes(w, f"/api/v1/tasks/{j2}") == probe_job
    assert _codes(w, f"/api/v1/collectors/probe-jobs/{j2}") == probe_job
    own = {**probe_job, "dept": 200}
    assert _codes(w, f"/api/v1/tasks/{j3}") == own
    assert _codes(w, f"/api/v1/collectors/probe-jobs/{j3}") == own

    def probe_list(who: str) -> list[str]:
        return [j["job_id"] for j in w.client.get("/api/v1/collectors/probe-jobs", headers=w.as_(who)).json()]

    unscoped = ("admin", "office", "operator", "auditor", "netadmin")
    assert {who: probe_list(who) for who in WHO} == {
        **{who: [j3, j2] for who in unscoped},  # newest first
        "dept": [j3],
        "other_dept": [],
        "city_chief": [],
        "bureau_chief": [],
    }

    def task_list(who: str) -> list[str]:
        page = w.client.get("/api/v1/tasks", headers=w.as_(who)).json()
        assert page["total"] == len(page["items"]), who  # all fit on the first page
        return [j["id"] for j in page["items"]]

    assert {who: task_list(who) for who in WHO} == {
        "admin": [j3, j2, j1],
        "office": [j3, j2, j1],
        "operator": [j3, j2, j1],
        "auditor": [j3, j2, j1],
        "netadmin": [j3, j2],
        "dept": [j3, j1],
        "other_dept": [],
        "city_chief": [j1],
        "bureau_chief": [j1],
    }
