"""Run one provisioning in its own process (the integration test SIGKILLs it mid-way, then resumes).

Usage: python os_kill_worker.py DB_URL CLOUDS_YAML CLOUD REQUEST_ID PROJECT
"""

from __future__ import annotations

import sys

from core.db import Database
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.provisioning.plan import NetworkSpec, ProvisionPlan, ServerSpec, VolumeSpec
from orchestrator.provisioning.runs import provision


def kill_plan(request_id: str, cloud: str, project: str) -> ProvisionPlan:
    return ProvisionPlan(
        request_id=request_id,
        cloud=cloud,
        project=project,
        unit_code="GXKILL",
        servers=(ServerSpec("k", "m1.tiny", "cirros-fake", count=4),),
        volumes=(VolumeSpec("kvol", 1, attach_to="k-4"),),
        networks=(NetworkSpec("knet", "10.30.0.0/24"),),
    )


if __name__ == "__main__":
    db_url, clouds_yaml, cloud, request_id, project = sys.argv[1:6]
    out = provision(Database(db_url), kill_plan(request_id, cloud, project), CloudRegistry(clouds_yaml).driver(cloud))
    print("ok" if out.ok else f"failed: {out.error}")
