"""The routes the console's Requests and Approvals pages need: the catalogue from the clouds, the approvers'
inbox with the quota impact, the placement preview (stores nothing), a request's step log for its readers, resume.
Expected figures are counted by hand from the world's numbers (tests/unit/orchestrator/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.enums import Role
from core.identity import Principal
from core.models import ChangeLog
from orchestrator.provisioning import runs as provision_module
from orchestrator.provisioning.driver import CloudError, FlavorSize, InMemoryDriver, NetworkInfo
from orchestrator.provisioning.plan import ResourceKind
from orchestrator.requests import service as svc
from orchestrator.requests.api import get_cloud_catalogue, get_flavor_catalog
from orchestrator.requests.catalogue import CloudCatalogue
from orchestrator.requests.flavors import CloudFlavors
from orchestrator.requests.lifecycle import Action
from orchestrator.requests.models import RequestEvent
from tests.unit.orchestrator.conftest import World

SMALL = FlavorSize(2, 4096, 20)


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision_module, "RETRY", provision_module.RetryPolicy(3, 0.001, 0.002))
    monkeypatch.setattr(provision_module, "SETTLE_S", 0.0)


def test_in_memory_driver_lists_its_images_and_networks_and_refuses_an_unknown_image() -> None:
    d = InMemoryDriver(images=["kylin-v10", "cirros"], networks=[NetworkInfo("public", "n1", external=True)])
    assert [i.name for i in d.images()] == ["cirros", "kylin-v10"]
    assert d.networks() == [NetworkInfo("public", "n1", external=True)]
    pid, _ = d.ensure_project("p", "U1")
    with pytest.raises(CloudError, match="image 'ubuntu' not found"):
        d.create(ResourceKind.SERVER, pid, "m", {"name": "s", "flavor": "x", "image": "ubuntu"})
    assert d.create(ResourceKind.SERVER, pid, "m", {"name": "s", "flavor": "x", "image": "cirros"}).name == "s"
    assert InMemoryDriver().images() == []  # without an image list: boots anything, lists nothing


def test_catalogue_merges_the_clouds_offers_and_names_a_cloud_that_cannot_answer(world: World, app: Any) -> None:
    w = world
    nanning = InMemoryDriver(
        "gov-nanning",
        "az1",
        flavors={"m1.small": SMALL, "m1.large": FlavorSize(8, 16384, 80)},
        images=["kylin-v10", "cirros"],
        networks=[NetworkInfo("public", "n1", external=True)],
    )
    guilin = InMemoryDriver("gov-guilin", "az2", flavors={"m1.small": SMALL}, images=["kylin-v10"])
    broken = InMemoryDriver("legacy", "az3", flavors={"m1.small": SMALL})
    broken.fault = lambda op, kind: CloudError("unreachable") if op == "images" else None
    drivers = [broken, guilin, nanning]
    app.dependency_overrides[get_cloud_catalogue] = lambda: CloudCatalogue(lambda: drivers)
    app.dependency_overrides[get_flavor_catalog] = lambda: CloudFlavors(lambda: drivers)
    r = w.client.get("/api/v1/catalogue", headers=w.as_("dept"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flavors"] == [
        {
            "name": "m1.small",
            "vcpus": 2,
            "ram_mb": 4096,
            "disk_gb": 20,
            "clouds": ["legacy", "gov-guilin", "gov-nanning"],
        },
        {"name": "m1.large", "vcpus": 8, "ram_mb": 16384, "disk_gb": 80, "clouds": ["gov-nanning"]},
    ]
    assert body["images"] == [
        {"name": "cirros", "min_disk_gb": 0, "clouds": ["gov-nanning"]},
        {"name": "kylin-v10", "min_disk_gb": 0, "clouds": ["gov-guilin", "gov-nanning"]},
    ]
    assert body["networks"] == [{"name": "public", "external": True, "shared": False, "clouds": ["gov-nanning"]}]
    assert body["clouds"][0] == {"cloud": "legacy", "availability_zone": "az3", "errors": ["images: unreachable"]}
    assert [d["value"] for d in body["dr_levels"]] == ["none", "remote_dr", "active_active"]
    assert [d["copies"] for d in body["dr_levels"]] == [1, 2, 2]
    assert "桂林" in body["dr_sites"] and "南宁" in body["core_sites"]
    assert w.client.get("/api/v1/catalogue", headers=w.as_("netadmin")).status_code == 403


def set_quotas(w: World) -> None:
    for unit, limits in (("city_unit", {"vcpus": 12}), ("county_unit", {"vcpus": 10, "ram_mb": 40000})):
        r = w.client.put(f"/api/v1/quotas/{w.ids[unit]}", json=limits, headers=w.as_("office"))
        assert r.status_code == 200, r.text


def test_inbox_shows_each_level_what_waits_for_it_with_the_quota_impact(world: World) -> None:
    w = world
    set_quotas(w)
    held = w.create(bundle=w.bundle())["id"]  # 1 × 2 vCPU, 4096 MB: auto-approved on submit, reserves its quota
    assert w.post("dept", f"{held}/submit").json()["status"] == "approved"
    rid = w.create(bundle=w.bundle(servers=2), dr_level="remote_dr")["id"]  # 2 servers × 2 copies
    assert w.post("dept", f"{rid}/submit").json()["status"] == "submitted"

    chief = w.client.get("/api/v1/requests/inbox", headers=w.as_("city_chief"))
    assert chief.status_code == 200, chief.text
    [item] = chief.json()
    assert (item["request"]["id"], item["level"], item["fits"]) == (rid, "first", True)
    quota = {q["resource"]: q for q in item["quota"]}
    # vCPUs: county 10 − 2 held = 8 left (city 12 − 2 = 10 is looser); the request takes 2 × 2 × 2 = 8 → 0
    assert quota["vcpus"] == {
        "resource": "vcpus",
        "demand": 8,
        "before": 8,
        "after": 0,
        "unit_id": w.ids["county_unit"],
        "fits": True,
    }
    # RAM: 40000 − 4096 = 35904 left; 2 × 4096 × 2 = 16384 asked → 19520
    assert (quota["ram_mb"]["before"], quota["ram_mb"]["demand"], quota["ram_mb"]["after"]) == (35904, 16384, 19520)
    assert quota["disk_gb"] == {
        "resource": "disk_gb",
        "demand": 80,
        "before": None,
        "after": None,
        "unit_id": None,
        "fits": True,
    }
    assert w.client.get("/api/v1/requests/inbox", headers=w.as_("office")).json() == []  # not its level yet
    assert w.client.get("/api/v1/requests/inbox", headers=w.as_("bureau_chief")).json() == []  # not its unit
    assert w.client.get("/api/v1/requests/inbox", headers=w.as_("operator")).status_code == 403

    assert w.post("city_chief", f"{rid}/approve", {"comment": "同意"}).status_code == 200
    assert w.client.get("/api/v1/requests/inbox", headers=w.as_("city_chief")).json() == []
    [final] = w.client.get("/api/v1/requests/inbox", headers=w.as_("office")).json()
    assert (final["request"]["id"], final["level"]) == (rid, "final")


def test_inbox_leaves_out_what_the_approver_submitted_itself(world: World) -> None:
    w = world
    rid = w.create(who="city_chief", unit="county_unit", bundle=w.bundle(servers=2), dr_level="remote_dr")["id"]
    assert w.post("city_chief", f"{rid}/submit").json()["status"] == "submitted"
    assert w.client.get("/api/v1/requests/inbox", headers=w.as_("city_chief")).json() == []


def test_placement_preview_explains_without_storing_anything(world: World) -> None:
    w = world
    rid = w.create(bundle=w.bundle(servers=2), dr_level="remote_dr")["id"]
    w.post("dept", f"{rid}/submit")
    with w.db.session() as s:
        before = (s.scalar(select(func.count()).select_from(ChangeLog)), s.scalar(select(func.count(RequestEvent.id))))
    r = w.client.get(f"/api/v1/requests/{rid}/placement-preview", headers=w.as_("city_chief"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["candidates"] == 3  # gov-nanning, gov-guilin, legacy: one slot each
    placement = body["placement"]
    assert (placement["primary"]["cloud"], placement["replica"]["cloud"]) == ("gov-nanning", "gov-guilin")
    assert {x["filter"] for x in placement["removed"]} >= {"gov_cloud"}  # the industry cloud, named with why
    with w.db.session() as s:
        after = (s.scalar(select(func.count()).select_from(ChangeLog)), s.scalar(select(func.count(RequestEvent.id))))
    assert after == before
    got = w.client.get(f"/api/v1/requests/{rid}", headers=w.as_("admin")).json()
    assert (got["status"], got["placement"], got["primary_cloud"]) == ("submitted", None, None)
    assert w.client.get(f"/api/v1/requests/{rid}/placement-preview", headers=w.as_("other_dept")).status_code == 404


def approved(w: World) -> int:
    rid: int = w.create(bundle=w.bundle(servers=2), dr_level="remote_dr")["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    assert w.post("office", f"{rid}/approve").json()["status"] == "approved"
    return rid


def test_a_department_user_reads_its_requests_step_log(world: World) -> None:
    w = world
    rid = approved(w)
    assert w.client.get(f"/api/v1/requests/{rid}/steps", headers=w.as_("dept")).json() == []
    w.post("operator", f"{rid}/schedule")
    assert w.post("operator", f"{rid}/provision").json()["status"] == "active"
    steps = w.client.get(f"/api/v1/requests/{rid}/steps", headers=w.as_("dept")).json()
    # per cloud: project, network, subnet, router, 2 servers = 6 steps (no volumes, groups or floating IPs)
    assert sorted({(s["cloud"], s["run_status"]) for s in steps}) == [("gov-guilin", "done"), ("gov-nanning", "done")]
    assert len(steps) == 12
    assert {s["key"] for s in steps if s["cloud"] == "gov-nanning" and s["kind"] == "server"} == {
        "server:web-1",
        "server:web-2",
    }
    assert w.client.get(f"/api/v1/requests/{rid}/steps", headers=w.as_("other_dept")).status_code == 404


def test_resume_route_finishes_an_interrupted_provisioning_and_says_when_there_is_nothing(world: World) -> None:
    w = world
    rid = approved(w)
    r = w.post("operator", f"{rid}/resume")
    assert r.status_code == 409 and "nothing to resume" in r.json()["error"]["message"]
    w.post("operator", f"{rid}/schedule")
    op = Principal("op", Role.CLOUD_OPERATOR)
    with w.db.session() as s:  # a process marked it provisioning, then died before building anything
        svc.apply(s, op, ChangeContext(actor="op", role="cloud_operator"), svc.get(s, op, rid), Action.PROVISION)
    assert w.post("dept", f"{rid}/resume").status_code == 403
    r = w.post("operator", f"{rid}/resume")
    assert r.status_code == 200, r.text
    assert r.json()["request"]["status"] == "active"
    assert sum(1 for o in w.drivers["gov-nanning"].objects.values() if o.kind == ResourceKind.SERVER) == 2


def test_request_counts_by_status_are_scoped_like_the_list(world: World) -> None:
    w = world
    w.create(who="dept")  # a draft in the county unit
    submitted = w.create(who="dept", bundle=w.bundle(servers=3, vcpus=8, ram_mb=16384))[
        "id"
    ]  # too big to approve itself
    assert w.post("dept", f"{submitted}/submit").json()["status"] == "submitted"
    w.create(who="other_dept", unit="other_unit")  # a draft elsewhere
    admin = w.client.get("/api/v1/requests/counts", headers=w.as_("admin")).json()
    assert (admin["draft"], admin["submitted"], admin["failed"]) == (2, 1, 0)
    dept = w.client.get("/api/v1/requests/counts", headers=w.as_("dept")).json()
    assert (dept["draft"], dept["submitted"]) == (1, 1)  # not the other unit's draft
    assert sum(dept.values()) == 2
    assert w.client.get("/api/v1/requests/counts", headers=w.as_("netadmin")).status_code == 403
