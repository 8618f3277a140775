"""The look-back (回头看) re-checks determinations of networks, rooms, exits and service items (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.audit import ChangeContext
from core.db import Database
from core.models import ChangeLog
from migrations_plan import planning
from migrations_plan.lookback_checks import determination_findings
from tests.builders import Inv

TODAY = date(2024, 6, 30)
OFFICE = ChangeContext(actor="office", role="cloud_chief_office")


def test_determinations_of_every_kind_are_re_checked(any_db: Database) -> None:
    """In force (newest by decision date) and what the look-back must say on 2024-06-30:
    network N1 exempt, review 2024-06-01            → review_due
    room R1 retire, room still active                → retire_not_followed
    room R2 exempt (review 2024-01-01) superseded by must_migrate on 2024-03-01, no review → nothing
    exit X1 keep, review 2024-07-31 (future)         → nothing
    exit X2 retire, exit closed                      → nothing
    service item I1 must_migrate, review 2024-06-30  → review_due (the day itself counts)
    system S1 exempt, review 2024-05-01              → review_due (reported by the system look-back)
    """
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        u, r = b["unit"], b["region"]
        n1 = inv.network(u, code="LB-N1")
        r1 = inv.room(u, r, code="LB-R1")
        r2 = inv.room(u, r, code="LB-R2")
        x1 = inv.add("internet_exits", code="LB-X1", name="出口1", owner_unit_id=u, region_id=r)
        x2 = inv.add("internet_exits", code="LB-X2", name="出口2", owner_unit_id=u, region_id=r, status="closed")
        vs = inv.add("vertical_systems", code="LB-V", name="垂管", scope="region", owner_unit_id=u, region_id=r)
        i1 = inv.add("service_items", code="LB-I1", name="事项", vertical_system_id=vs)
        s1 = inv.system(u, room_id=b["room"], code="LB-S1")
        for code, kind, sid, decision, decided_on, review_on in (
            ("D-N1", "network", n1, "exempt", date(2024, 1, 1), date(2024, 6, 1)),
            ("D-R1", "room", r1, "retire", date(2024, 1, 1), None),
            ("D-R2a", "room", r2, "exempt", date(2023, 6, 1), date(2024, 1, 1)),
            ("D-R2b", "room", r2, "must_migrate", date(2024, 3, 1), None),
            ("D-X1", "exit", x1, "keep", date(2024, 1, 1), date(2024, 7, 31)),
            ("D-X2", "exit", x2, "retire", date(2024, 1, 1), None),
            ("D-I1", "service_item", i1, "must_migrate", date(2024, 1, 1), date(2024, 6, 30)),
            ("D-S1", "system", s1, "exempt", date(2024, 1, 1), date(2024, 5, 1)),
        ):
            inv.add(
                "determinations", code=code, subject_kind=kind, subject_id=sid, decision=decision,
                decided_by="office", decided_on=decided_on, review_on=review_on, reason="技术认定",
            )  # fmt: skip
    with any_db.session() as s:
        got = determination_findings(s, TODAY)
        assert [(f.kind, f.code, f.problem) for f in got] == [
            ("network", "LB-N1", "review_due"),
            ("room", "LB-R1", "retire_not_followed"),
            ("service_item", "LB-I1", "review_due"),
        ]
        assert got[1].zh == "机房已认定下线/撤并（D-R1），但状态仍为 active"
        everything = planning.run_lookback(s, OFFICE, TODAY)
        assert sorted((f.kind, f.code, f.problem) for f in everything) == [
            ("network", "LB-N1", "review_due"),
            ("room", "LB-R1", "retire_not_followed"),
            ("service_item", "LB-I1", "review_due"),
            ("system", "LB-S1", "review_due"),
        ]
        assert s.scalars(select(ChangeLog).where(ChangeLog.kind == "plan_wave_items")).all() == []
