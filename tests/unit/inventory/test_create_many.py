"""service.create_many: create()'s checks and change log, in bulk, all or nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import Conflict, Forbidden, RuleViolation, ValidationFailed
from core.models import ChangeLog
from inventory import service
from inventory.kinds import KINDS
from inventory.models import InformationSystem, system_depends_on
from tests.builders import Inv


def _count(s, model) -> int:  # type: ignore[no-untyped-def]
    return s.scalar(select(func.count()).select_from(model)) or 0


def test_create_many_logs_the_same_snapshot_as_create(any_db: Database, ctx: ChangeContext) -> None:
    with any_db.session() as s:
        b = Inv(s).basic()
        dep = Inv(s).system(b["unit"], room_id=b["room"])
        rows = [
            {"code": f"B{i}", "name": f"批量{i}", "owner_unit_id": b["unit"], "room_id": b["room"], "vcpus": i}
            for i in range(3)
        ]
        rows[1]["depends_on_ids"] = [dep, dep]
        rows[2].update(hosting="gov_cloud", room_id=None, cloud_id=b["cloud"], status="migrated")
        ids = service.create_many(s, "systems", rows, ctx)
    with any_db.session() as s:
        objs = [s.get(InformationSystem, i) for i in ids]
        assert [o.code for o in objs if o] == ["B0", "B1", "B2"]
        for obj in objs:
            assert obj is not None
            entry = s.scalars(select(ChangeLog).where(ChangeLog.kind == "systems", ChangeLog.object_id == obj.id)).one()
            assert entry.action == "create" and entry.actor == "tester"
            assert entry.after == service.snapshot(KINDS["systems"], obj)
        assert objs[1] is not None and [d.id for d in objs[1].depends_on] == [dep]
        assert objs[2] is not None and objs[2].status_changed_at is not None


def test_create_many_collects_every_problem_and_writes_nothing(any_db: Database, ctx: ChangeContext) -> None:
    with any_db.session() as s:
        b = Inv(s).basic()
        Inv(s).system(b["unit"], room_id=b["room"], code="TAKEN")
        before = (_count(s, InformationSystem), _count(s, ChangeLog))
    base = {"name": "x", "owner_unit_id": b["unit"], "room_id": b["room"]}
    rows = [
        {**base, "code": "OK1"},
        {**base, "code": "BAD", "vcpus": "abc"},
        {**base, "code": "REF", "room_id": 99999},
        {**base, "code": "OK1"},
    ]
    with any_db.session() as s, pytest.raises(ValidationFailed) as err:
        service.create_many(s, "systems", rows, ctx)
    where = {(p.row, p.field) for p in err.value.problems}
    assert {(1, "vcpus"), (2, "room_id"), (3, "code")} <= where
    with any_db.session() as s, pytest.raises(Conflict) as conflict:
        service.create_many(s, "systems", [{**base, "code": "NEW"}, {**base, "code": "TAKEN"}], ctx)
    assert [(p.row, p.field) for p in conflict.value.problems] == [(1, "code")]
    classified = {**base, "code": "SECRET", "classified": True, "hosting": "gov_cloud", "cloud_id": b["cloud"]}
    with any_db.session() as s, pytest.raises(RuleViolation) as rule:
        service.create_many(s, "systems", [{**base, "code": "FINE"}, classified], ctx)
    assert {p.row for p in rule.value.problems} == {1}
    with any_db.session() as s:
        assert (_count(s, InformationSystem), _count(s, ChangeLog)) == before
        assert _count(s, system_depends_on) == 0


def test_create_many_applies_the_write_guard(db: Database) -> None:
    from core.identity import Principal
    from inventory.access import write_guard

    with db.session() as s:
        b = Inv(s).basic()
    p = Principal("dept", Role.DEPARTMENT_USER, b["county_unit"], frozenset({b["county_unit"]}))
    ctx = ChangeContext(actor="dept", role=p.role.value, guard=write_guard(p))
    rows = [{"code": "MINE", "name": "x", "owner_unit_id": b["unit"], "room_id": b["room"]}]
    with db.session() as s, pytest.raises(Forbidden):
        service.create_many(s, "systems", rows, ctx)
    with db.session() as s:
        assert _count(s, InformationSystem) == 0
