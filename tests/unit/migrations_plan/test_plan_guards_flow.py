"""Plans and retirements cannot move the numbers behind the office's back (SQLite and PostgreSQL).

Small inventories of known shape; every expected figure is written by hand.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.audit import ChangeContext
from core.db import Database
from core.errors import Conflict, ValidationFailed
from core.models import ChangeLog
from inventory import service
from inventory.enums import Decision, SystemStatus
from inventory.models import Determination, InformationSystem
from migrations_plan import guards, planning, retirement, tracking
from migrations_plan.load import load_inventory
from migrations_plan.models import ItemStatus, RetirementState, WaveItem
from migrations_plan.planning import Options
from migrations_plan.store import plan_items, save_plan
from migrations_plan.zombies import score
from tests.builders import Inv

TODAY = date(2024, 6, 30)
OWNER = ChangeContext(actor="owner-unit", role="department_user")
OFFICE = ChangeContext(actor="office", role="cloud_chief_office")


def n_changes(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ChangeLog)) or 0


def item_of(db: Database, plan_id: int, system_id: int) -> int:
    with db.session() as s:
        return next(i.id for i in plan_items(s, plan_id) if i.object_id == system_id and i.kind.value == "system")


def decide(s: object, subject_kind: str, subject_id: int, decision: str, **kw: object) -> int:
    data = {
        "subject_kind": subject_kind,
        "subject_id": subject_id,
        "decision": decision,
        "decided_by": "office",
        "decided_on": kw.pop("decided_on", date(2024, 1, 10)),
        "reason": "技术认定",
        **kw,
    }
    return Inv(s).add("determinations", **data)  # type: ignore[arg-type]


@pytest.fixture
def shop(any_db: Database) -> dict[str, int]:
    """R, E, K, A, B movable (B depends on A); all in one unit's room."""
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        ids = dict(b)
        for name in ("r", "e", "k", "a"):
            ids[name] = inv.system(b["unit"], room_id=b["room"], code=f"G-{name.upper()}", vcpus=2, memory_gb=4)
        ids["b"] = inv.system(b["unit"], room_id=b["room"], code="G-B", vcpus=2, memory_gb=4, depends_on_ids=[ids["a"]])
    return ids


def test_an_older_stored_plan_cannot_bring_back_a_retired_exempt_or_classified_system(
    any_db: Database, shop: dict[str, int]
) -> None:
    db = any_db
    with db.session() as s:
        plan_id = save_plan(s, planning.compute_plan(s, Options()), "old", {}, OFFICE).id
    r_item, e_item, k_item = (item_of(db, plan_id, shop[x]) for x in ("r", "e", "k"))
    with db.session() as s:
        tracking.advance(s, r_item, ItemStatus.IN_PROGRESS, OFFICE)
        tracking.advance(s, r_item, ItemStatus.MIGRATED, OFFICE, cloud_id=shop["cloud"])
    with db.session() as s:  # afterwards the office retires R, exempts E; K turns out to be classified
        tracking.advance(s, r_item, ItemStatus.ROLLED_BACK, OFFICE)
        service.update(s, "systems", shop["r"], {"status": "retired"}, OFFICE)
        decide(s, "system", shop["r"], "retire")
        decide(s, "system", shop["e"], "exempt")
        service.update(s, "systems", shop["k"], {"classified": True}, OFFICE)
    before = n_changes(db)
    for item_id, to in ((r_item, ItemStatus.IN_PROGRESS), (e_item, ItemStatus.IN_PROGRESS)):
        with db.session() as s, pytest.raises(Conflict) as err:
            tracking.advance(s, item_id, to, OFFICE, cloud_id=shop["cloud"])
        assert "contradicts a decision in force" in err.value.message
    with db.session() as s, pytest.raises(Conflict) as err:
        tracking.advance(s, k_item, ItemStatus.IN_PROGRESS, OFFICE)
    assert [p.value for p in err.value.problems] == ["classified"]
    assert n_changes(db) == before  # 409: nothing written
    with db.session() as s:
        r = s.get(InformationSystem, shop["r"])
        assert r is not None and (r.status, r.cloud_id) == (SystemStatus.RETIRED, None)
        assert s.get(WaveItem, e_item).status == ItemStatus.PLANNED  # type: ignore[union-attr]
        stale = guards.stale_notes(s, plan_items(s, plan_id))
        assert {i: [n.code for n in notes] for i, notes in stale.items()} == {
            r_item: ["retired", "decision_retire"],
            e_item: ["decision_exempt"],
            k_item: ["classified"],
        }


def test_retirement_below_the_threshold_or_with_dependents_needs_the_office_override(
    any_db: Database, shop: dict[str, int]
) -> None:
    """LOW: detached only (30 < 50), no dependents. ZD: detached + replaceable (55) but X of another unit
    depends on it. ZC: 55, nobody depends on it: approved without override."""
    db = any_db
    with db.session() as s:
        inv = Inv(s)
        other = inv.unit(shop["region"], name="另一厅")
        low = inv.system(shop["unit"], room_id=shop["room"], code="G-LOW", business_active=False)
        zd = inv.system(
            shop["unit"], room_id=shop["room"], code="G-ZD", business_active=False, replaced_by_id=shop["a"]
        )
        zc = inv.system(
            shop["unit"], room_id=shop["room"], code="G-ZC", business_active=False, replaced_by_id=shop["a"]
        )
        x = inv.system(other, room_id=shop["room"], code="G-X", depends_on_ids=[zd])
        inv_sys = load_inventory(s).systems
        cases = {}
        for sid in (low, zd, zc):
            z = score(inv_sys[sid], TODAY)
            cases[sid] = retirement.propose(s, z, OWNER).id
            retirement.confirm(s, cases[sid], OWNER, None)
        assert retirement.get_case(s, cases[zd]).dependents == [
            {"id": x, "code": "G-X", "unit_id": other, "status": "not_migrated"}
        ]
    before = n_changes(db)
    with db.session() as s, pytest.raises(Conflict) as err:
        retirement.approve(s, cases[low], OFFICE, TODAY)
    assert [p.field for p in err.value.problems] == ["score", "override_reason"]
    with db.session() as s, pytest.raises(Conflict) as err:
        retirement.approve(s, cases[zd], OFFICE, TODAY)
    assert [p.field for p in err.value.problems] == ["dependents", "override_reason"]
    assert err.value.problems[0].value == ["G-X"]
    with db.session() as s, pytest.raises(ValidationFailed):
        retirement.approve(s, cases[zd], OFFICE, TODAY, override_reason="  ")
    assert n_changes(db) == before  # refused: nothing written
    with db.session() as s:
        assert s.get(InformationSystem, low).status == SystemStatus.NOT_MIGRATED  # type: ignore[union-attr]
        retirement.approve(s, cases[zc], OFFICE, TODAY)  # a candidate nobody depends on: no override needed
        case = retirement.approve(s, cases[zd], OFFICE, TODAY, override_reason="G-X 已改接 G-A，经核实")
        assert (case.state, case.override_reason) == (RetirementState.APPROVED, "G-X 已改接 G-A，经核实")
        assert [d["code"] for d in case.dependents or []] == ["G-X"]
        det = s.scalars(select(Determination).where(Determination.subject_id == zd)).one()
        assert det.decision == Decision.RETIRE and "override: G-X 已改接 G-A，经核实" in (det.reason or "")
        zc_case = retirement.get_case(s, cases[zc])
        assert (zc_case.state, zc_case.override_reason, zc_case.dependents) == (RetirementState.APPROVED, None, [])
        statuses = {c: s.get(InformationSystem, c).status for c in (low, zd, zc)}  # type: ignore[union-attr]
        assert statuses == {
            low: SystemStatus.NOT_MIGRATED,
            zd: SystemStatus.RETIRED,
            zc: SystemStatus.RETIRED,
        }


def test_progress_out_of_dependency_order_is_warned_and_found_by_the_look_back(
    any_db: Database, shop: dict[str, int]
) -> None:
    """B depends on A. B is migrated first: warning in its change-log entry, and the look-back names A.
    M is set to migrated directly after the plan was stored: "migrated outside a wave plan"."""
    db = any_db
    with db.session() as s:
        plan_id = save_plan(s, planning.compute_plan(s, Options()), "p", {}, OFFICE).id
    b_item = item_of(db, plan_id, shop["b"])
    with db.session() as s:
        m = Inv(s).system(shop["unit"], room_id=shop["room"], code="G-M")
    with db.session() as s:
        service.update(
            s, "systems", m, {"status": "migrated", "hosting": "gov_cloud", "cloud_id": shop["cloud"], "room_id": None},
            OWNER,
        )  # fmt: skip
        tracking.advance(s, b_item, ItemStatus.IN_PROGRESS, OFFICE)
        assert guards.out_of_order(s, shop["b"])[0].zh == "先于其依赖系统 G-A（not_migrated）迁移"
        tracking.advance(s, b_item, ItemStatus.MIGRATED, OFFICE, cloud_id=shop["cloud"])
    with db.session() as s:
        entry = s.scalars(
            select(ChangeLog).where(ChangeLog.kind == "plan_wave_items", ChangeLog.object_id == b_item)
            .order_by(ChangeLog.id.desc()).limit(1)
        ).one()  # fmt: skip
        assert (entry.after or {})["status"] == "migrated"
        assert (
            entry.message
            == "先于其依赖系统 G-A（not_migrated）迁移 / migrated before its dependency G-A (not_migrated)"
        )
        found = planning.run_lookback(s, OFFICE, TODAY)
        assert sorted((f.code, f.problem) for f in found) == [
            ("G-B", "out_of_order"),
            ("G-M", "migrated_outside_plan"),
        ]
