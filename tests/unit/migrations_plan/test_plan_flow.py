"""Retirement flow, execution tracking and look-back over a real inventory of known shape (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.db import Database
from core.errors import Conflict, Forbidden
from core.models import ChangeLog
from dashboards import rates
from inventory.enums import Decision, Hosting, NetworkStatus, SystemStatus
from inventory.models import Determination, InformationSystem
from migrations_plan import planning, retirement, tracking
from migrations_plan.load import load_inventory
from migrations_plan.models import ItemStatus, RetirementState, WaveItem
from migrations_plan.planning import Options
from migrations_plan.store import plan_items, save_plan
from tests.builders import Inv

TODAY = date(2024, 6, 30)
OWNER = ChangeContext(actor="owner-unit", role="department_user")
OFFICE = ChangeContext(actor="office", role="cloud_chief_office")


def migrated_rate_by_definition(session: Session) -> tuple[int, int]:
    """migrated non-classified non-retired non-exempt / non-classified non-retired non-exempt systems."""
    exempt = set(
        session.scalars(
            select(Determination.subject_id).where(
                Determination.subject_kind == "system",
                Determination.active.is_(True),
                Determination.decision == Decision.EXEMPT,
            )
        )
    )
    in_scope = [
        s
        for s in session.scalars(select(InformationSystem))
        if not s.classified and s.status != SystemStatus.RETIRED and s.id not in exempt
    ]
    return sum(s.status == SystemStatus.MIGRATED for s in in_scope), len(in_scope)


@pytest.fixture
def shop(any_db: Database) -> dict[str, int]:
    """4 non-classified systems (1 migrated, 1 zombie, 2 in a room), 1 classified system, a network."""
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        room, cloud, unit = b["room"], b["cloud"], b["unit"]
        ids = dict(b)
        ids["done"] = inv.system(unit, cloud_id=cloud, status="migrated")
        ids["new"] = inv.system(unit, room_id=room, vcpus=4, memory_gb=8)
        ids["zombie"] = inv.system(
            unit,
            room_id=room,
            business_active=False,
            replaced_by_id=ids["new"],
            last_access_at=date(2022, 1, 1),
            last_maintenance_at=date(2021, 1, 1),
            users_count=2,
        )
        ids["net"] = inv.network(unit)
        ids["app"] = inv.system(unit, room_id=room, depends_on_ids=[ids["new"]], network_ids=[ids["net"]])
        ids["secret"] = inv.system(unit, room_id=room, classified=True)
    return ids


def test_approving_a_zombie_retirement_changes_the_migration_rate_exactly(
    any_db: Database, shop: dict[str, int]
) -> None:
    db = any_db
    with db.session() as s:
        before = migrated_rate_by_definition(s)
        engine_before = rates.compute(s, rates.RateKey.SYSTEMS_MIGRATED).overall
        zombies = planning.zombies(s, TODAY)
        assert [z.system_id for z in zombies] == [shop["zombie"]]
        case = retirement.propose(s, zombies[0], OFFICE)
        case_id = case.id
    assert before == (1, 4)  # classified never counts
    assert (engine_before.numerator, engine_before.denominator) == before
    with db.session() as s, pytest.raises(Conflict):  # the owner unit has to confirm first
        retirement.approve(s, case_id, OFFICE, TODAY)
    with db.session() as s:
        retirement.confirm(s, case_id, OWNER, frozenset({shop["unit"]}))
        retirement.approve(s, case_id, OFFICE, TODAY, note="同意下线")
    with db.session() as s:
        after = migrated_rate_by_definition(s)
        engine_after = rates.compute(s, rates.RateKey.SYSTEMS_MIGRATED).overall
        assert after == (1, 3)  # the zombie left the denominator, nothing else moved
        assert (engine_after.numerator, engine_after.denominator) == after
        assert engine_after.ratio == pytest.approx(1 / 3)
        system = s.get(InformationSystem, shop["zombie"])
        assert system is not None and system.status == SystemStatus.RETIRED
        det = s.scalars(select(Determination).where(Determination.subject_id == shop["zombie"])).one()
        assert (det.decision, det.decided_by, det.decided_on, det.active) == (Decision.RETIRE, "office", TODAY, True)
        assert "zombie retirement" in (det.reason or "")
        case = retirement.get_case(s, case_id)
        assert case.state == RetirementState.APPROVED
        assert (case.owner_confirmed_by, case.decided_by, case.determination_id) == ("owner-unit", "office", det.id)
        log = s.scalars(select(ChangeLog).where(ChangeLog.kind == "plan_retirement_cases").order_by(ChangeLog.id)).all()
        assert [(e.actor, (e.after or {}).get("state")) for e in log] == [
            ("office", "proposed"),
            ("owner-unit", "owner_confirmed"),
            ("office", "approved"),
        ]
        sys_log = s.scalars(
            select(ChangeLog).where(ChangeLog.kind == "systems", ChangeLog.object_id == shop["zombie"])
        ).all()
        assert (sys_log[-1].actor, (sys_log[-1].after or {})["status"]) == ("office", "retired")


def test_owner_of_another_unit_cannot_confirm_and_nothing_changes(any_db: Database, shop: dict[str, int]) -> None:
    db = any_db
    with db.session() as s:
        case_id = retirement.propose(s, planning.zombies(s, TODAY)[0], OFFICE).id
    with db.session() as s, pytest.raises(Forbidden):
        retirement.confirm(s, case_id, OWNER, frozenset({shop["county_unit"]}))
    with db.session() as s:
        assert retirement.get_case(s, case_id).state == RetirementState.PROPOSED
        with pytest.raises(Conflict):  # one open case per system
            retirement.propose(s, planning.zombies(s, TODAY)[0], OFFICE)


def test_tracking_moves_the_system_and_network_and_feeds_the_rate(any_db: Database, shop: dict[str, int]) -> None:
    db = any_db
    calls: list[tracking.ResourceNeed] = []

    def request_factory(session: Session, need: tracking.ResourceNeed, ctx: ChangeContext) -> str:
        calls.append(need)
        return f"REQ-{need.system_code}"

    with db.session() as s:
        plan = planning.compute_plan(s, Options(max_wave_size=10))
        by = plan.by_key()
        # the network first, then the system the app needs, then the app
        assert by[f"network:{shop['net']}"].wave == 1 and by[f"system:{shop['new']}"].wave == 1
        assert by[f"system:{shop['app']}"].wave == 2
        assert f"system:{shop['secret']}" not in by and f"system:{shop['done']}" not in by  # out of scope
        stored = save_plan(s, plan, "test", Options().params(), OFFICE)
        items = {(i.kind.value, i.object_id): i for i in plan_items(s, stored.id)}
        new_item, net_item = items[("system", shop["new"])], items[("network", shop["net"])]
        tracking.advance(s, new_item.id, ItemStatus.IN_PROGRESS, OFFICE, request_factory=request_factory)
        assert new_item.request_ref == f"REQ-{new_item.code}" and calls[0].system_id == shop["new"]
        with pytest.raises(Conflict):
            tracking.advance(s, new_item.id, ItemStatus.VERIFIED, OFFICE)
        tracking.advance(s, new_item.id, ItemStatus.MIGRATED, OFFICE, cloud_id=shop["cloud"])
        tracking.advance(s, net_item.id, ItemStatus.IN_PROGRESS, OFFICE)
        tracking.advance(s, net_item.id, ItemStatus.MIGRATED, OFFICE)
        app_item = items[("system", shop["app"])]
        tracking.advance(s, app_item.id, ItemStatus.IN_PROGRESS, OFFICE)
        with pytest.raises(Conflict):  # nothing to verify before it is migrated
            tracking.advance(s, app_item.id, ItemStatus.VERIFIED, OFFICE)
    with db.session() as s:
        system = s.get(InformationSystem, shop["new"])
        assert system is not None
        assert (system.status, system.hosting, system.cloud_id, system.room_id) == (
            SystemStatus.MIGRATED,
            Hosting.GOV_CLOUD,
            shop["cloud"],
            None,
        )
        assert load_inventory(s).networks[shop["net"]].status == NetworkStatus.MIGRATED
        assert migrated_rate_by_definition(s) == (2, 4)
        # roll back: the system returns to its room
        tracking.advance(s, new_item.id, ItemStatus.ROLLED_BACK, OFFICE)
        system = s.get(InformationSystem, shop["new"])
        assert system is not None
        assert (system.status, system.hosting, system.room_id) == (
            SystemStatus.NOT_MIGRATED,
            Hosting.ROOM,
            shop["room"],
        )
        assert migrated_rate_by_definition(s) == (1, 4)
        entries = s.scalars(select(ChangeLog).where(ChangeLog.kind == "plan_wave_items").order_by(ChangeLog.id)).all()
        assert [(e.object_id, (e.after or {})["status"]) for e in entries] == [
            (new_item.id, "in_progress"),
            (new_item.id, "migrated"),
            (net_item.id, "in_progress"),
            (net_item.id, "migrated"),
            (app_item.id, "in_progress"),
            (new_item.id, "rolled_back"),
        ]


def test_lookback_flags_a_migrated_system_found_again_in_a_room(any_db: Database, shop: dict[str, int]) -> None:
    db = any_db
    with db.session() as s:
        stored = save_plan(s, planning.compute_plan(s, Options()), "p", {}, OFFICE)
        item = next(i for i in plan_items(s, stored.id) if i.object_id == shop["new"] and i.kind.value == "system")
        tracking.advance(s, item.id, ItemStatus.IN_PROGRESS, OFFICE)
        tracking.advance(s, item.id, ItemStatus.MIGRATED, OFFICE, cloud_id=shop["cloud"])
        tracking.advance(s, item.id, ItemStatus.VERIFIED, OFFICE)
        assert planning.run_lookback(s, OFFICE, TODAY) == []
        # someone puts it back in the room and a determination's look-back date passes
        Inv(s).set("systems", shop["new"], hosting="room", room_id=shop["room"], cloud_id=None, status="not_migrated")
        Inv(s).add(
            "determinations",
            subject_kind="system",
            subject_id=shop["app"],
            decision="exempt",
            reason="专用设备",
            decided_by="office",
            decided_on=date(2023, 1, 1),
            review_on=date(2024, 1, 1),
        )
        found = planning.run_lookback(s, OFFICE, TODAY)
        assert sorted((f.object_id, f.problem) for f in found) == sorted(
            [
                (shop["new"], "status_regressed"),
                (shop["new"], "not_on_cloud"),
                (shop["new"], "found_in_room"),
                (shop["app"], "review_due"),
            ]
        )
        stored_item = s.get(WaveItem, item.id)
        assert stored_item is not None and "found again in room" in (stored_item.regression or "")
        assert s.scalars(
            select(ChangeLog).where(ChangeLog.kind == "plan_wave_items", ChangeLog.message.contains("回头看"))
        ).all()
    # the daily job does the same: one moved item re-checked, four findings
    assert planning.scheduled_lookback(db, TODAY) == (1, 4)
