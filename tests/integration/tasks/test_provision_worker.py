"""Provisioning on the broker: the API answers 202 with the job, a real `yunwang worker` (its clouds the in-memory
demo clouds of its own process) claims it and drives the request to active; the step log is in the one database."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db import Database
from orchestrator.app.settings import Settings
from tests.integration.tasks.conftest import broker_url, stop_workers, worker_process
from tests.task_jobs import wait_job
from tests.unit.orchestrator.conftest import World, world  # noqa: F401  (the scheduler's small Guangxi)

SMALL = {  # the demo clouds' m1.small, as declared (a differing size would be refused)
    "servers": [
        {"name": "web", "flavor": "m1.small", "image": "cirros", "count": 2, "vcpus": 1, "ram_mb": 2048, "disk_gb": 20}
    ],
    "networks": [{"name": "net", "cidr": "10.20.0.0/24"}],
}


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    url = broker_url()
    return Settings(
        database_url=db.url, data_dir=tmp_path / "data", scheduler_enabled=False, broker_url=url, demo_cloud=True
    )


def test_a_request_is_provisioned_by_a_worker_through_the_broker(
    world: World,  # noqa: F811
    db: Database,
    tmp_path: Path,
) -> None:
    w = world
    worker = worker_process(db, broker_url(), "default", tmp_path, env_={"YUNWANG_DEMO_CLOUD": "true"})
    try:
        rid = w.create(bundle=SMALL)["id"]
        w.post("dept", f"{rid}/submit")
        w.post("city_chief", f"{rid}/approve", {"comment": "同意"})
        w.post("office", f"{rid}/approve", {"comment": "批准"})
        scheduled = w.post("operator", f"{rid}/schedule").json()
        cloud = scheduled["primary_cloud"]
        assert scheduled["status"] == "scheduled" and cloud in ("gov-nanning", "gov-guilin"), scheduled  # both demo
        r = w.client.post(f"/api/v1/requests/{rid}/provision", headers=w.as_("operator"))
        assert r.status_code == 202, r.text
        # answered before the work is done (the worker does it; it may have started by the time the answer is written)
        assert r.json()["status"] in ("scheduled", "provisioning"), r.text
        job = wait_job(w.client, r.json()["job"]["url"], w.as_("operator"), timeout=120)
        assert (job["status"], job["attempts"], job["result"]["status"]) == ("succeeded", 1, "active"), job
        got = w.client.get(f"/api/v1/requests/{rid}", headers=w.as_("dept")).json()
        assert got["status"] == "active"
        assert sorted(x["name"] for x in got["resources"] if x["kind"] == "server") == ["web-1", "web-2"]
        steps = w.client.get(f"/api/v1/requests/{rid}/steps", headers=w.as_("dept")).json()
        # by hand: project, network, subnet, router, 2 servers = 6 steps, all ready in a done run, on the chosen cloud
        assert [(s["cloud"], s["run_status"], s["status"]) for s in steps] == [(cloud, "done", "ready")] * 6, steps
        from core.tasks.models import TaskJob

        with db.read_session() as s:
            row = s.get(TaskJob, job["id"])
            assert row is not None and row.worker is not None
            assert row.worker.split(":")[1] == str(worker.pid)  # done by the worker, not by this process
    finally:
        stop_workers([worker])
