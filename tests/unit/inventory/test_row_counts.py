"""The unfiltered list total from PostgreSQL's trigger-kept row counts (inventory.row_counts): always the true
count — after inserts, deletes, a truncate, a compaction, and not counting another transaction's uncommitted rows."""

from __future__ import annotations

from sqlalchemy import func, select, text

from core.audit import ChangeContext
from core.db import Database
from inventory import queries, row_counts, service
from inventory.kinds import KINDS
from inventory.models import Region, RowCountDelta

CTX = ChangeContext(actor="tester", role="admin")
REGIONS = KINDS["regions"]


def _total(db: Database, **params: str) -> int:
    with db.read_session() as s:
        return queries.list_objects(s, REGIONS, queries.parse_list_params(REGIONS, params, None))[1]


def _add(db: Database, n: int, start: int = 0) -> list[int]:
    with db.session() as s:
        ids = [
            int(service.create(s, "regions", {"code": f"45{i:04d}", "level": "city", "name": f"市{i}"}, CTX).id)  # type: ignore[attr-defined]
            for i in range(start, start + n)
        ]
        s.commit()
    return ids


def test_list_totals_follow_inserts_deletes_and_compaction(any_db: Database) -> None:
    pg = any_db.engine.dialect.name == "postgresql"
    assert _total(any_db) == 0
    ids = _add(any_db, 70)  # one INSERT statement each: 70 delta rows, more than COMPACT_AT (64)
    assert _total(any_db) == 70
    with any_db.session() as s:
        service.delete(s, "regions", ids[0], CTX)
        service.delete(s, "regions", ids[1], CTX)
        s.commit()
    assert _total(any_db) == 68
    assert _total(any_db, level="city") == 68  # a filtered list counts its rows as before
    with any_db.read_session() as s:
        kept = row_counts.table_count(s, "regions")
        delta_rows = s.scalar(select(func.count()).select_from(RowCountDelta).where(RowCountDelta.kind == "regions"))
    if pg:
        assert kept == 68
        assert delta_rows is not None and delta_rows <= 3  # folded by the compaction after the 70 inserts
    else:
        assert kept is None  # SQLite: no triggers, count(*) as before


def test_another_transactions_uncommitted_rows_are_not_counted(any_db: Database) -> None:
    _add(any_db, 2)
    with any_db.session() as writer:
        service.create(writer, "regions", {"code": "459999", "level": "city", "name": "未提交"}, CTX)
        writer.flush()  # inserted, trigger fired, not committed
        assert _total(any_db) == 2
        writer.commit()
    assert _total(any_db) == 3


def test_a_truncate_resets_the_count(any_db: Database) -> None:
    _add(any_db, 3)
    assert _total(any_db) == 3
    if any_db.engine.dialect.name != "postgresql":
        return  # SQLite has no TRUNCATE; its count(*) needs no reset
    with any_db.session() as s:
        s.execute(text("TRUNCATE regions CASCADE"))
        s.commit()
    with any_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Region)) == 0
    assert _total(any_db) == 0
    _add(any_db, 1, 100)
    assert _total(any_db) == 1
