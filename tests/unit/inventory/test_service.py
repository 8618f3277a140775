"""Inventory service: domain rules, references, change log and as-of reads, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.audit import ChangeContext
from core.db import Database
from core.errors import Conflict, RuleViolation, ValidationFailed
from core.models import ChangeLog
from inventory import queries, service
from inventory.models import InformationSystem
from tests.builders import Inv


def test_classified_system_can_never_be_migrated(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        with pytest.raises(RuleViolation) as err:
            inv.system(b["unit"], cloud_id=b["cloud"], status="migrated", classified=True)
        fields = {p.field for p in err.value.problems}
        assert {"status", "hosting", "cloud_id"} <= fields
    with any_db.session() as s:
        assert s.query(InformationSystem).count() == 0


def test_classified_system_cannot_be_patched_onto_a_cloud(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        sid = inv.system(b["unit"], room_id=b["room"], classified=True)
        with pytest.raises(RuleViolation):
            inv.set("systems", sid, hosting="gov_cloud", cloud_id=b["cloud"])
        with pytest.raises(RuleViolation):
            inv.set("systems", sid, status="migrated")


def test_classified_network_cannot_be_interconnected(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        nid = inv.network(b["unit"], classified=True)
        with pytest.raises(RuleViolation, match="domain rule"):
            inv.set("networks", nid, status="interconnected")


def test_exemption_needs_a_reason(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        sid = inv.system(b["unit"], room_id=b["room"])
        base = {
            "subject_kind": "system",
            "subject_id": sid,
            "decision": "exempt",
            "decided_by": "office",
            "decided_on": "2023-01-05",
        }
        with pytest.raises(RuleViolation) as err:
            inv.add("determinations", **base, reason="  ")
        assert err.value.problems[0].field == "reason"
        assert inv.add("determinations", **base, reason="有特殊规定：公安专用") > 0


def test_duplicate_code_is_a_conflict(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        inv.system(b["unit"], room_id=b["room"], code="SYS-1")
        with pytest.raises(Conflict) as err:
            inv.system(b["unit"], room_id=b["room"], code="SYS-1")
        assert err.value.problems[0].field == "code"


def test_unknown_reference_names_the_field(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        with pytest.raises(ValidationFailed) as err:
            inv.system(b["unit"], room_id=99999)
        assert [(p.field, p.value) for p in err.value.problems] == [("room_id", 99999)]


def test_region_tree_rejects_cycles_and_level_inversion(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        with pytest.raises(RuleViolation):
            inv.set("regions", b["region"], parent_id=b["county"])
        with pytest.raises(RuleViolation, match="domain rule"):
            inv.region("city", parent_id=b["county"])


def test_every_change_is_logged_with_before_and_after(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        sid = inv.system(b["unit"], room_id=b["room"], name="旧名")
        inv.set("systems", sid, name="新名")
        inv.set("systems", sid, name="新名")  # no-op: nothing logged
        rows, total = queries.changes(s, kind="systems", object_id=sid)
        assert total == 2
        assert (rows[0].before or {}).get("name") == "旧名" and (rows[0].after or {}).get("name") == "新名"
        assert rows[0].actor == "builder"


def test_delete_refuses_while_referenced(any_db: Database) -> None:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        inv.system(b["unit"], room_id=b["room"])
        with pytest.raises(Conflict) as err:
            service.delete(s, "rooms", b["room"], inv.ctx)
        assert "systems.room_id" in err.value.problems[0].message


def test_as_of_reads_the_past_state(any_db: Database) -> None:
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        a = inv.system(b["unit"], room_id=b["room"], at=t0)
        gone = inv.system(b["unit"], room_id=b["room"], at=t0)
        inv.set(
            "systems",
            a,
            at=t0 + timedelta(days=40),
            hosting="gov_cloud",
            cloud_id=b["cloud"],
            room_id=None,
            status="migrated",
        )
        service.delete(s, "systems", gone, ChangeContext(actor="x", at=t0 + timedelta(days=50)))
        before = {r["id"]: r["status"] for r in queries.as_of(s, "systems", t0 + timedelta(days=10))}
        after = {r["id"]: r["status"] for r in queries.as_of(s, "systems", t0 + timedelta(days=60))}
        assert before == {a: "not_migrated", gone: "not_migrated"}
        assert after == {a: "migrated"}
        assert s.query(ChangeLog).filter_by(object_id=gone, action="delete").count() == 1


def test_status_change_is_stamped(any_db: Database) -> None:
    at = datetime(2024, 3, 1, tzinfo=UTC)
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        nid = inv.network(b["unit"])
        inv.set("networks", nid, at=at, status="interconnected")
        got = queries.as_of(s, "networks", at, ids=[nid])[0]
        assert got["status_changed_at"].startswith("2024-03-01")
