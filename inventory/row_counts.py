"""The row count of an inventory table from `row_count_deltas` (PostgreSQL: kept by triggers, exact under MVCC).

An unfiltered, unscoped list's total is the sum of the table's delta rows (a few rows: an index lookup)
instead of a count(*) over every row (13 ms at 100,000 systems). When more than COMPACT_AT delta rows piled up
(a bulk load adds one per statement), they are folded into one row in a short transaction of their own. SQLite
(and a PostgreSQL database without the triggers: no delta row at all) counts as before.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from inventory.models import RowCountDelta

COMPACT_AT = 64
_COMPACT = text(
    "WITH gone AS (DELETE FROM row_count_deltas WHERE kind = :kind RETURNING n) "
    "INSERT INTO row_count_deltas (kind, n) SELECT :kind, coalesce(sum(n), 0) FROM gone"
)


def table_count(session: Session, table: str) -> int | None:
    """The number of rows of `table`, or None when the database keeps no count for it (count it yourself)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    rows, total = session.execute(
        select(func.count(), func.coalesce(func.sum(RowCountDelta.n), 0)).where(RowCountDelta.kind == table)
    ).one()
    if not rows:
        return None
    if rows > COMPACT_AT:
        with bind.engine.connect() as conn:  # its own transaction: a read request's session stays read-only
            conn.execute(_COMPACT, {"kind": table})
            conn.commit()
    return int(total)
