"""The scheduler on the real local OpenStack: request → two-level approval → DR placement → provisioning on
gov-nanning and gov-guilin → retirement, with nothing of the request left in either cloud."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.db import Database
from core.enums import Role
from orchestrator.provisioning.api import get_clouds
from orchestrator.provisioning.clouds import Clouds
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.requests.api import get_capacity_source
from tests.builders import Inv
from tests.integration.openstack.os_helpers import owned_by
from tests.task_jobs import settled

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::Warning")]
CLOUDS = ("gov-nanning", "gov-guilin")


def test_request_approved_placed_provisioned_and_retired_on_real_openstack(
    app: Any,
    client: TestClient,
    db: Database,
    token_for: Callable[..., str],
    cloud_registry: CloudRegistry,
    request_id: str,
    cleanup: list[tuple[str, str]],
) -> None:
    with db.session() as s:
        inv = Inv(s)
        ids = inv.basic()  # its cloud is gov-nanning at 南宁核心
        inv.cloud(ids["region"], site="桂林灾备", clouds_yaml_name="gov-guilin")
        unit_code = "T" + request_id[2:].upper()
        inv.set("units", ids["county_unit"], code=unit_code)
    project = f"yw-{unit_code}".lower()
    cleanup.extend((c, project) for c in CLOUDS)
    app.dependency_overrides[get_clouds] = lambda: Clouds.of({c: cloud_registry.driver(c) for c in CLOUDS})
    app.dependency_overrides[get_capacity_source] = lambda: (
        lambda session: [cloud_registry.driver(c).capacity() for c in CLOUDS]
    )

    def h(role: Role, unit: int | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(role, unit)}"}

    dept, chief, office, operator = (
        h(Role.DEPARTMENT_USER, ids["county_unit"]),
        h(Role.SUB_CLOUD_CHIEF, ids["city_unit"]),
        h(Role.CLOUD_CHIEF_OFFICE),
        h(Role.CLOUD_OPERATOR),
    )
    bundle = {
        "servers": [
            {"name": "app", "flavor": "m1.tiny", "image": "cirros-fake", "vcpus": 1, "ram_mb": 512, "disk_gb": 1}
        ],
        "volumes": [{"name": "data", "size_gb": 1, "attach_to": "app"}],
        "networks": [{"name": "biz", "cidr": "10.30.0.0/24"}],
        "security_groups": [{"name": "web", "rules": [{"protocol": "tcp", "port_min": 443, "port_max": 443}]}],
    }
    body = {"title": "integration", "unit_id": ids["county_unit"], "dr_level": "remote_dr", "bundle": bundle}
    rid = client.post("/api/v1/requests", json=body, headers=dept).json()["id"]
    assert client.post(f"/api/v1/requests/{rid}/submit", headers=dept).json()["status"] == "submitted"
    assert client.post(f"/api/v1/requests/{rid}/approve", headers=chief).json()["first_level_done"]
    assert client.post(f"/api/v1/requests/{rid}/approve", headers=office).json()["status"] == "approved"
    r = client.post(f"/api/v1/requests/{rid}/schedule", headers=operator)
    assert r.status_code == 200, r.text
    assert (r.json()["primary_cloud"], r.json()["replica_cloud"]) == CLOUDS

    r = client.post(f"/api/v1/requests/{rid}/provision", headers=operator)
    assert r.status_code == 202, r.text  # a background job: the request once it has finished
    r = settled(client, r, operator, timeout=300)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["status"] == "active", got["failure_reason"]
    code = got["code"]
    by_cloud = {c: [x for x in got["resources"] if x["cloud"] == c] for c in CLOUDS}
    for cloud in CLOUDS:
        kinds = {x["kind"] for x in by_cloud[cloud]}
        assert {"server", "volume", "network", "security_group"} <= kinds, (cloud, kinds)
        driver = cloud_registry.driver(cloud)
        pid = driver.ensure_project(project, unit_code)[0]
        # the local regions may share one Nova: count only what carries this cloud's marker
        servers = [
            o for o in owned_by(driver, pid, code) if o.kind.value == "server" and o.owner and o.owner[1] == cloud
        ]
        assert len(servers) == 1 and servers[0].status == "ACTIVE"

    r = settled(client, client.post(f"/api/v1/requests/{rid}/retire", headers=operator), operator, timeout=300)
    assert r.json()["status"] == "retired", r.text
    for cloud in CLOUDS:
        driver = cloud_registry.driver(cloud)
        pid = driver.ensure_project(project, unit_code)[0]
        assert owned_by(driver, pid, code) == []
