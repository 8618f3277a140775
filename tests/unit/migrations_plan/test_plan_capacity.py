"""Readiness sees the orchestrator's newest capacity samples through PlanServices.capacity (wired by orchestrator/app/plan_wiring.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from core.db import Database
from orchestrator.app.plan_capacity import plan_capacity
from orchestrator.provisioning.models import CapacitySample
from tests.builders import Inv


def test_free_capacity_comes_from_the_newest_sample_of_each_cloud(admin: TestClient, db: Database) -> None:
    with db.session() as s:
        b = Inv(s).basic()  # its gov cloud is "gov-nanning" in clouds.yaml
        big = Inv(s).system(b["unit"], room_id=b["room"], vcpus=16, memory_gb=64)
        small = Inv(s).system(b["unit"], room_id=b["room"], vcpus=2, memory_gb=4)
        assert plan_capacity(s) is None  # no samples yet: unknown
        old, new = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
        for at, used in ((old, 0), (new, 88)):
            s.add_all(
                [
                    CapacitySample(at=at, cloud="gov-nanning", host="h1", resource_class="VCPU", total=96, used=used),
                    CapacitySample(
                        at=at, cloud="gov-nanning", host="h1", resource_class="MEMORY_MB", total=262144, used=0
                    ),
                    CapacitySample(at=at, cloud="gov-nanning", host="h1", resource_class="DISK_GB", total=4000, used=0),
                    CapacitySample(at=at, cloud="not-in-inventory", host="x", resource_class="VCPU", total=999, used=0),
                ]
            )
        s.flush()
        cap = plan_capacity(s)
        assert cap is not None and set(cap) == {b["cloud"]}
        assert (cap[b["cloud"]].vcpus, cap[b["cloud"]].memory_gb, cap[b["cloud"]].storage_gb) == (8, 256, 4000)
    got_big = admin.get(f"/api/v1/plan/readiness/{big}").json()
    got_small = admin.get(f"/api/v1/plan/readiness/{small}").json()
    assert got_big["outcome"] == "blocked" and "no_capacity" in [r["code"] for r in got_big["reasons"]]
    assert got_small["outcome"] == "ready" and got_small["target_cloud_id"] == b["cloud"]
