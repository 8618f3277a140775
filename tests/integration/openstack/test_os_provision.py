"""Provisioning against the real local OpenStack: a request with a DR replica across two clouds, retire, and
nothing left behind (checked by listing the clouds)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from core.db import Database
from core.models import ChangeLog
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.provisioning.plan import NetworkSpec, ProvisionPlan, SecurityGroupSpec, ServerSpec, VolumeSpec
from orchestrator.provisioning.runs import provision, retire, steps_of
from tests.integration.openstack.os_helpers import everything_in, owned_by

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::Warning")]


def dr_plans(request_id: str, project: str) -> tuple[ProvisionPlan, ProvisionPlan]:
    primary = ProvisionPlan(
        request_id=request_id,
        cloud="gov-nanning",
        project=project,
        unit_code="GXDSJ",
        servers=(ServerSpec("app", "m1.tiny", "cirros-fake", count=2), ServerSpec("db", "m1.tiny", "cirros-fake")),
        volumes=(VolumeSpec("dbdata", 1, attach_to="db"),),
        networks=(NetworkSpec("biz", "10.20.0.0/24"),),
        security_groups=(SecurityGroupSpec("app", (("tcp", 443, 443, "0.0.0.0/0"), ("icmp", 0, 0, "10.0.0.0/8"))),),
        floating_ips=1,
    )
    replica = ProvisionPlan(
        request_id=request_id,
        cloud="gov-guilin",
        project=project,
        unit_code="GXDSJ",
        servers=(ServerSpec("app-dr", "m1.tiny", "cirros-fake"), ServerSpec("db-dr", "m1.tiny", "cirros-fake")),
        volumes=(VolumeSpec("dbdata-dr", 1, attach_to="db-dr"),),
        networks=(NetworkSpec("biz-dr", "10.21.0.0/24"),),
    )
    return primary, replica


def test_dr_request_across_two_clouds_then_retire_leaves_nothing(
    db: Database, cloud_registry: CloudRegistry, request_id: str, project: str, cleanup: list[tuple[str, str]]
) -> None:
    cleanup.append(("gov-nanning", project))
    primary, replica = dr_plans(request_id, project)
    nanning, guilin = cloud_registry.driver("gov-nanning"), cloud_registry.driver("gov-guilin")

    out1 = provision(db, primary, nanning)
    out2 = provision(db, replica, guilin)
    assert out1.ok, out1.error
    assert out2.ok, out2.error

    pid = next(r.project_id for r in out1.resources)
    assert pid is not None
    found = owned_by(nanning, pid, request_id)
    servers = {o.name: o for o in found if o.kind.value == "server"}
    assert set(servers) == {"app-1", "app-2", "db", "app-dr", "db-dr"}
    assert {o.status for o in servers.values()} == {"ACTIVE"}
    # each cloud's servers landed in that cloud's availability zone (its own hypervisor)
    assert {servers[n].attrs["availability_zone"] for n in ("app-1", "app-2", "db")} == {"gov-nanning-az"}
    assert {servers[n].attrs["availability_zone"] for n in ("app-dr", "db-dr")} == {"gov-guilin-az"}
    volumes = {o.name: o.status for o in found if o.kind.value == "volume"}
    assert volumes == {"dbdata": "in-use", "dbdata-dr": "in-use"}
    kinds = Counter(o.kind.value for o in found)
    assert kinds["floating_ip"] == 1 and kinds["network"] == 2 and kinds["router"] == 2
    # one run per cloud, every owned step READY, audit entries recorded
    steps = steps_of(db, request_id)
    assert {s["cloud"] for s in steps} == {"gov-nanning", "gov-guilin"}
    assert {s["status"] for s in steps if s["owned"]} == {"ready"}
    # provisioning again is a no-op (idempotent): no new resources
    assert provision(db, primary, nanning).ok
    assert len(owned_by(nanning, pid, request_id)) == len(found)

    r1 = retire(db, request_id, nanning)
    r2 = retire(db, request_id, guilin)
    assert r1.ok and r2.ok, (r1.error, r2.error)
    assert everything_in(nanning, pid) == []
    assert everything_in(guilin, pid) == []
    with db.session() as s:
        entries = s.scalars(select(ChangeLog).filter_by(kind="provision_run")).all()
        assert {e.after["status"] for e in entries if e.after} >= {"running", "done", "retired"}
