"""Mapping a scheduled request to provisioning plans (primary and DR replica)."""

from __future__ import annotations

from orchestrator.placement.engine import DRLevel
from orchestrator.requests.lifecycle import RequestStatus
from orchestrator.requests.models import ResourceRequest
from orchestrator.requests.provisioning_hook import plans_for


def scheduled(dr: DRLevel) -> ResourceRequest:
    bundle = {
        "servers": [{"name": "web", "flavor": "m1.small", "image": "cirros", "count": 2, "vcpus": 2, "ram_mb": 2048}],
        "volumes": [{"name": "data", "size_gb": 10, "attach_to": "web-2"}],
        "networks": [{"name": "biz", "cidr": "10.20.0.0/24"}],
        "security_groups": [{"name": "https", "rules": [{"protocol": "tcp", "port_min": 443, "port_max": 443}]}],
        "floating_ips": 1,
    }
    return ResourceRequest(
        code="RR000042",
        bundle=bundle,
        dr_level=dr,
        status=RequestStatus.SCHEDULED,
        primary_cloud="gov-nanning",
        primary_az="gov-nanning-az",
        replica_cloud="gov-guilin" if dr != DRLevel.NONE else None,
        replica_az="nova",
    )


def test_primary_plan_mirrors_the_bundle() -> None:
    [plan] = plans_for(scheduled(DRLevel.NONE), "GXDSJ")
    assert (plan.request_id, plan.cloud, plan.project, plan.availability_zone) == (
        "RR000042",
        "gov-nanning",
        "yw-gxdsj",
        "gov-nanning-az",
    )
    assert plan.server_names() == ("web-1", "web-2")
    assert plan.volumes[0].attach_to == "web-2"
    assert plan.security_groups[0].rules == (("tcp", 443, 443, "0.0.0.0/0"),)
    assert plan.floating_ips == 1
    # the declared sizes travel with the plan (provisioning compares them with the real flavor)
    assert [(s.flavor, s.vcpus, s.ram_mb, s.disk_gb) for s in plan.servers] == [("m1.small", 2, 2048, None)]
    # the cloud's own quotas are the cloud admin's: left alone unless managed mode is asked for
    assert plan.manage_quota is False
    assert plans_for(scheduled(DRLevel.NONE), "GXDSJ", manage_quota=True)[0].manage_quota is True


def test_replica_plan_goes_to_the_dr_cloud_with_distinct_names_and_mapped_attachments() -> None:
    primary, replica = plans_for(scheduled(DRLevel.REMOTE_DR), "GXDSJ")
    assert replica.cloud == "gov-guilin" and replica.availability_zone is None
    assert replica.server_names() == ("web-dr-1", "web-dr-2")
    assert replica.volumes[0].name == "data-dr" and replica.volumes[0].attach_to == "web-dr-2"
    assert [n.name for n in replica.networks] == ["biz-dr"] and replica.networks[0].cidr == "10.20.0.0/24"
    # no plan carries a quota computed from what the unit runs (concurrent runs used to cap each other with it)
    assert not hasattr(replica, "quota") and primary.manage_quota is replica.manage_quota is False
