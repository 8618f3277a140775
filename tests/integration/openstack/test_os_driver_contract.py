"""One contract for every CloudDriver: the in-memory driver (always) and the real OpenStack driver (local cloud)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from orchestrator.provisioning.driver import CloudDriver, InMemoryDriver, marker, parse_marker
from orchestrator.provisioning.openstack import CloudRegistry
from orchestrator.provisioning.plan import ResourceKind

pytestmark = [pytest.mark.filterwarnings("ignore::Warning")]


@pytest.fixture(params=["memory", pytest.param("openstack", marks=pytest.mark.integration)])
def driver(request: pytest.FixtureRequest) -> Iterator[tuple[CloudDriver, str]]:
    name = "yw-contract-" + uuid.uuid4().hex[:6]
    if request.param == "memory":
        yield InMemoryDriver(cloud="gov-nanning"), name
        return
    reg: CloudRegistry = request.getfixturevalue("cloud_registry")
    d = reg.driver("gov-nanning")
    yield d, name
    conn = d.admin()
    p = conn.identity.find_project(name, domain_id="default")
    if p is not None:
        conn.identity.delete_project(p.id)


def test_project_is_ensured_once(driver: tuple[CloudDriver, str]) -> None:
    d, name = driver
    pid, created = d.ensure_project(name, "U1")
    assert created
    assert d.ensure_project(name, "U1") == (pid, False)


def test_network_and_server_lifecycle_with_markers(driver: tuple[CloudDriver, str]) -> None:
    d, name = driver
    pid, _ = d.ensure_project(name, "U1")
    d.set_quota(pid, {"instances": 3})
    m_net = marker("REQ-C", d.cloud, "network:n")
    assert d.find(ResourceKind.NETWORK, pid, m_net, {"name": "n"}) is None
    net = d.create(ResourceKind.NETWORK, pid, m_net, {"name": "n"})
    found = d.find(ResourceKind.NETWORK, pid, m_net, {"name": "n"})
    assert found is not None and found.cloud_id == net.cloud_id
    assert parse_marker(found.marker) == ("REQ-C", d.cloud, "network:n")
    assert d.find(ResourceKind.NETWORK, pid, marker("REQ-OTHER", d.cloud, "network:n"), {"name": "n"}) is None

    m_srv = marker("REQ-C", d.cloud, "server:s")
    spec = {
        "name": "s",
        "flavor": "m1.tiny",
        "image": "cirros-fake",
        "network_id": None,
        "availability_zone": d.availability_zone,
    }
    srv = d.wait_ready(ResourceKind.SERVER, pid, d.create(ResourceKind.SERVER, pid, m_srv, spec))
    assert srv.status == "ACTIVE"
    listed = {o.cloud_id: o for o in d.list_resources([pid])}
    assert listed[srv.cloud_id].owner == ("REQ-C", d.cloud, "server:s")
    assert net.cloud_id in listed
    assert d.quota_usage(pid)["instances"] == (1, 3)

    d.delete(ResourceKind.SERVER, pid, srv)
    d.delete(ResourceKind.SERVER, pid, srv)  # already gone: not an error
    d.delete(ResourceKind.NETWORK, pid, net)
    assert d.find(ResourceKind.SERVER, pid, m_srv, spec) is None
    assert d.list_resources([pid]) == []


def test_capacity_reports_hosts_of_the_clouds_zone(driver: tuple[CloudDriver, str]) -> None:
    d, _ = driver
    cap = d.capacity()
    assert cap.cloud == "gov-nanning" and cap.hosts
    vcpu_total, vcpu_used = cap.totals()["VCPU"]
    assert vcpu_total > 0 and vcpu_used >= 0
