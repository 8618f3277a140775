"""Zombies cost nothing new (《全区政务信息系统整合共享工作要点》§三(一)) — resource requests for retired systems
and zombie candidates, on SQLite and PostgreSQL, and through the API."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import RuleViolation
from core.identity import Principal, unit_subtree
from core.models import ChangeLog
from inventory import service
from orchestrator.requests import approval
from orchestrator.requests import service as svc
from orchestrator.requests.lifecycle import Bundle, RequestCreate, RequestStatus
from orchestrator.requests.models import EventKind, RequestEvent, ResourceRequest
from tests.builders import Inv
from tests.unit.orchestrator.conftest import World

SMALL = Bundle.model_validate(
    {"servers": [{"name": "app", "flavor": "m1", "image": "cirros", "count": 1, "vcpus": 2, "ram_mb": 4096}]}
)
AUTO = approval.AutoRules()  # 2 vCPU / 4 GB / 1 server is well inside the auto-approval limits


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(m)) or 0 for m in (ResourceRequest, RequestEvent, ChangeLog)
        )


def test_retired_refused_candidate_needs_the_office_live_auto_approved(any_db: Database) -> None:
    """Three systems of the county unit (first level: the city's sub-cloud chief):
    LIVE (no evidence) → auto-approved; ZOMB (detached 30 + replaceable 25 = 55 ≥ 50) → waits for the office;
    GONE (retired) → refused, nothing written."""
    with any_db.session() as s:
        inv = Inv(s)
        ids = inv.basic()
        live = inv.system(ids["county_unit"], ids["room"], code="ZR-LIVE")
        zomb = inv.system(ids["county_unit"], ids["room"], code="ZR-ZOMB", business_active=False, replaced_by_id=live)
        gone = inv.system(ids["county_unit"], ids["room"], code="ZR-GONE", status="retired")
    ctx = ChangeContext(actor="t", role="t")
    with any_db.session() as s:
        dept = Principal("dept", Role.DEPARTMENT_USER, ids["county_unit"], unit_subtree(s, ids["county_unit"]))
        chief = Principal("chief", Role.SUB_CLOUD_CHIEF, ids["city_unit"], unit_subtree(s, ids["city_unit"]))
        office = Principal("office", Role.CLOUD_CHIEF_OFFICE)
        ok = svc.create(
            s, dept, ctx, RequestCreate(title="live", unit_id=ids["county_unit"], system_id=live, bundle=SMALL)
        )
        svc.submit(s, dept, ctx, ok, AUTO)
        assert (ok.status, ok.office_review) == (RequestStatus.APPROVED, None)
        z = svc.create(s, dept, ctx, RequestCreate(title="z", unit_id=ids["county_unit"], system_id=zomb, bundle=SMALL))
        assert z.office_review is not None and z.office_review.startswith(
            "系统 ZR-ZOMB：僵尸系统候选，得分 55（使用与实际业务流程长期脱节、功能可被其他系统替代（ZR-LIVE））"
        )
        assert "《全区政务信息系统整合共享工作要点》§三(一)" in z.office_review
        svc.submit(s, dept, ctx, z, AUTO)
        assert (z.status, z.first_level_done) == (RequestStatus.SUBMITTED, False)  # not auto-approved
        svc.first_approve(s, chief, ctx, z, "同意")
        assert (z.status, z.first_level_done) == (RequestStatus.SUBMITTED, True)  # the sub-cloud chief is not enough
        svc.approve(s, office, ctx, z, "云长办核实后同意")
        assert z.status == RequestStatus.APPROVED
        kinds = [e.kind for e in svc.events(s, office, request_id=z.id)]
        assert kinds == [
            EventKind.CREATED, EventKind.SUBMITTED, EventKind.COMMENT, EventKind.FIRST_APPROVED, EventKind.APPROVED
        ]  # fmt: skip
    before = counts(any_db)
    with any_db.session() as s, pytest.raises(RuleViolation) as err:
        svc.create(s, dept, ctx, RequestCreate(title="g", unit_id=ids["county_unit"], system_id=gone, bundle=SMALL))
    assert err.value.message.startswith("系统 ZR-GONE 已认定下线（僵尸系统清理），不再为其安排新资源")
    assert counts(any_db) == before


def test_a_system_retired_after_submission_cannot_be_approved(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        ids = inv.basic()
        sys_id = inv.system(ids["county_unit"], ids["room"], code="ZR-LATE")
    ctx = ChangeContext(actor="t", role="t")
    with any_db.session() as s:
        dept = Principal("dept", Role.DEPARTMENT_USER, ids["county_unit"], unit_subtree(s, ids["county_unit"]))
        chief = Principal("chief", Role.SUB_CLOUD_CHIEF, ids["city_unit"], unit_subtree(s, ids["city_unit"]))
        row = svc.create(
            s, dept, ctx, RequestCreate(title="x", unit_id=ids["county_unit"], system_id=sys_id, bundle=SMALL)
        )
        svc.submit(s, dept, ctx, row, approval.AutoRules(enabled=False))
        svc.first_approve(s, chief, ctx, row, "ok")
        row_id = row.id
        service.update(s, "systems", sys_id, {"status": "retired"}, ctx)
    before = counts(any_db)
    with any_db.session() as s, pytest.raises(RuleViolation):
        again = s.get(ResourceRequest, row_id)
        assert again is not None
        svc.approve(s, Principal("office", Role.CLOUD_CHIEF_OFFICE), ctx, again, "ok")
    assert counts(any_db) == before
    with any_db.session() as s:
        assert s.get(ResourceRequest, row_id).status == RequestStatus.SUBMITTED  # type: ignore[union-attr]


def test_the_api_shows_the_reason_and_refuses_retired_systems(world: World) -> None:
    with world.db.session() as s:
        inv = Inv(s)
        live = world.ids["system"]
        zomb = inv.system(world.ids["county_unit"], world.ids["room"], code="ZR-API", business_active=False,
                          replaced_by_id=live)  # fmt: skip
        gone = inv.system(world.ids["county_unit"], world.ids["room"], code="ZR-OFF", status="retired")
    got = world.create(system_id=zomb)
    assert got["office_review"].startswith("系统 ZR-API：僵尸系统候选，得分 55")
    r = world.post("dept", f"{got['id']}/submit")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["first_level_done"]) == ("submitted", False)
    before = world.changes()
    r = world.client.post(
        "/api/v1/requests",
        json={"title": "x", "unit_id": world.ids["county_unit"], "system_id": gone, "bundle": world.bundle()},
        headers=world.as_("dept"),
    )
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("系统 ZR-OFF 已认定下线")
    assert world.changes() == before
