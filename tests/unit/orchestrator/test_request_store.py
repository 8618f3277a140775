"""The request service and quota sums on SQLite and PostgreSQL (the production store)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import Principal, unit_subtree
from orchestrator.requests import approval, quotas
from orchestrator.requests import service as svc
from orchestrator.requests.api import RequestsCollector
from orchestrator.requests.lifecycle import Bundle, RequestCreate, RequestStatus, Resources
from orchestrator.requests.models import EventKind
from tests.builders import Inv

BUNDLE = Bundle.model_validate(
    {
        "servers": [
            {"name": "app", "flavor": "m1", "image": "cirros", "count": 3, "vcpus": 4, "ram_mb": 8192, "disk_gb": 50}
        ]
    }
)
MANUAL = approval.AutoRules(enabled=False)


def test_lifecycle_reservations_and_usage_on_both_stores(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        ids = inv.basic()
        sibling = inv.unit(ids["city"], "county", parent_id=ids["city_unit"])
    with any_db.session() as s:
        dept = Principal("dept", Role.DEPARTMENT_USER, ids["county_unit"], unit_subtree(s, ids["county_unit"]))
        chief = Principal("chief", Role.SUB_CLOUD_CHIEF, ids["city_unit"], unit_subtree(s, ids["city_unit"]))
        office = Principal("office", Role.CLOUD_CHIEF_OFFICE)
        ctx = ChangeContext(actor="t", role="t")
        quotas.set_limits(s, ctx, ids["city_unit"], {"vcpus": 30})
        row = svc.create(s, dept, ctx, RequestCreate(title="a", unit_id=ids["county_unit"], bundle=BUNDLE))
        svc.submit(s, dept, ctx, row, MANUAL)
        svc.first_approve(s, chief, ctx, row, "ok")
        svc.approve(s, office, ctx, row, "ok")
        assert row.status == RequestStatus.APPROVED
        quotas.add_usage(s, sibling, Resources(vcpus=5, instances=1))
    with any_db.session() as s:
        city_tree = unit_subtree(s, ids["city_unit"])
        # 12 reserved by the approved request + 5 provisioned by the sibling unit
        assert quotas.subtree_usage(s, city_tree) == Resources(vcpus=17, ram_mb=24576, disk_gb=150, instances=4)
        assert quotas.subtree_usage(s, city_tree, exclude_request=row.id).vcpus == 5
        [level] = quotas.chain_for(s, ids["county_unit"])
        assert (level.unit_id, level.limits, level.used.vcpus) == (ids["city_unit"], {"vcpus": 30}, 17)
        assert quotas.check(Resources(vcpus=14), [level])  # 17 + 14 > 30
        kinds = [e.kind for e in svc.events(s, dept, request_id=row.id)]
        assert kinds == [EventKind.CREATED, EventKind.SUBMITTED, EventKind.FIRST_APPROVED, EventKind.APPROVED]
        assert svc.list_requests(s, dept, status=RequestStatus.APPROVED) == [s.get(type(row), row.id)]
    registry = CollectorRegistry()
    registry.register(RequestsCollector(any_db))
    assert registry.get_sample_value("yunwang_resource_requests", {"status": "approved"}) == 1


def test_usage_added_by_concurrent_activations_is_neither_lost_nor_refused(any_db: Database) -> None:
    """Eight requests of one unit activated at once: the unit's first usage row is inserted once and every delta
    counts (before: a primary-key violation, or a lost read-modify-write, on PostgreSQL)."""
    import threading

    with any_db.session() as s:
        ids = Inv(s).basic()
    unit_id = ids["county_unit"]
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def activate() -> None:
        try:
            with any_db.session() as s:
                start.wait()
                quotas.add_usage(s, unit_id, Resources(vcpus=2, ram_mb=512, instances=1))
        except BaseException as exc:  # the test reports every thread failure
            errors.append(exc)

    threads = [threading.Thread(target=activate) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with any_db.session() as s:
        assert quotas.usage_of(s, unit_id) == Resources(vcpus=16, ram_mb=4096, instances=8)  # 8 × (2, 512, 1)
        quotas.add_usage(s, unit_id, Resources(vcpus=-20, ram_mb=-1024, instances=-1))  # retire more than used
    with any_db.session() as s:
        assert quotas.usage_of(s, unit_id) == Resources(vcpus=0, ram_mb=3072, instances=7)  # clamped at zero
