"""A small Guangxi for the scheduler: bureau (chief) → city (chief) → county unit; Nanning and Guilin clouds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.db import Database
from core.enums import Role
from orchestrator.provisioning.api import get_clouds
from orchestrator.provisioning.clouds import Clouds
from orchestrator.provisioning.driver import InMemoryDriver
from orchestrator.requests.api import get_capacity_source
from tests.builders import Inv
from tests.task_jobs import settled

HOSTS = {"h1": {"VCPU": (64.0, 0), "MEMORY_MB": (262144.0, 0), "DISK_GB": (4000.0, 0)}}


@dataclass
class World:
    ids: dict[str, int]
    drivers: dict[str, InMemoryDriver]
    client: TestClient
    token_for: Callable[..., str]
    db: Database
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def bundle(self, servers: int = 1, vcpus: int = 2, ram_mb: int = 4096, **kw: Any) -> dict[str, Any]:
        b: dict[str, Any] = {
            "servers": [
                {
                    "name": "web",
                    "flavor": "m1.small",
                    "image": "cirros",
                    "count": servers,
                    "vcpus": vcpus,
                    "ram_mb": ram_mb,
                    "disk_gb": 20,
                }
            ],
            "networks": [{"name": "net", "cidr": "10.20.0.0/24"}],
        }
        b.update(kw)
        return b

    def create(self, who: str = "dept", unit: str = "county_unit", **kw: Any) -> dict[str, Any]:
        body = {"title": "政务服务系统扩容", "unit_id": self.ids[unit], "bundle": kw.pop("bundle", self.bundle())}
        body.update(kw)
        r = self.client.post("/api/v1/requests", json=body, headers=self.as_(who))
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def post(self, who: str, path: str, json: Any = None) -> Any:
        """POST to a request route; provisioning and retirement (202 with a job) are waited for: the request then."""
        r = self.client.post(f"/api/v1/requests/{path}", json=json, headers=self.as_(who))
        return settled(self.client, r, self.as_(who))

    def changes(self) -> int:
        r = self.client.get("/api/v1/inventory/changes?limit=1", headers=self.as_("admin"))
        return int(r.json()["total"])


@pytest.fixture
def world(app, client: TestClient, token_for: Callable[..., str], db: Database) -> World:  # type: ignore[no-untyped-def]
    with db.session() as s:
        inv = Inv(s)
        ids = inv.basic()
        inv.set("units", ids["city_unit"], parent_id=ids["unit"])  # bureau (chief) → city (chief) → county
        ids["other_unit"] = inv.unit(ids["city"], "city", name="柳州市某局")
        ids["guilin_cloud"] = inv.cloud(ids["region"], site="桂林灾备", clouds_yaml_name="gov-guilin")
        ids["legacy_cloud"] = inv.cloud(
            ids["region"], kind="industry_cloud", site="南宁核心", clouds_yaml_name="legacy"
        )
        ids["classified_system"] = inv.system(ids["county_unit"], ids["room"], classified=True)
        ids["system"] = inv.system(ids["county_unit"], ids["room"])
    drivers = {
        name: InMemoryDriver(cloud=name, availability_zone="az1", hosts=HOSTS)
        for name in ("gov-nanning", "gov-guilin", "legacy")
    }
    app.dependency_overrides[get_capacity_source] = lambda: lambda session: [d.capacity() for d in drivers.values()]
    app.dependency_overrides[get_clouds] = lambda: Clouds.of(drivers)
    w = World(ids, drivers, client, token_for, db)
    w.tokens = {
        "admin": token_for(Role.ADMIN),
        "dept": token_for(Role.DEPARTMENT_USER, ids["county_unit"]),
        "other_dept": token_for(Role.DEPARTMENT_USER, ids["other_unit"]),
        "city_chief": token_for(Role.SUB_CLOUD_CHIEF, ids["city_unit"]),
        "bureau_chief": token_for(Role.SUB_CLOUD_CHIEF, ids["unit"]),
        "office": token_for(Role.CLOUD_CHIEF_OFFICE),
        "operator": token_for(Role.CLOUD_OPERATOR),
        "auditor": token_for(Role.AUDITOR),
        "netadmin": token_for(Role.NETWORK_ADMIN),
    }
    return w
