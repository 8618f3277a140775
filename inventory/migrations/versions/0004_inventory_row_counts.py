"""row counts of the inventory tables kept by PostgreSQL triggers (the unfiltered list total without a scan)

Revision ID: 0004_inventory_row_counts
Revises: 0003_inventory_change_log_role
Create Date: 2026-12-01 21:00:00

On PostgreSQL every inventory table gets statement-level triggers (AFTER INSERT/DELETE with transition
tables, AFTER TRUNCATE) that append the statement's +n/-n to `row_count_deltas` in the same transaction, and
the table's current count is recorded once here. SQLite keeps no triggers: its count(*) is already cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_inventory_row_counts"
down_revision: str | Sequence[str] | None = "0003_inventory_change_log_role"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The inventory kinds' tables at this revision (inventory.kinds.KINDS); a later kind adds its own triggers.
TABLES = (
    "regions",
    "units",
    "rooms",
    "clouds",
    "internet_exits",
    "networks",
    "systems",
    "vertical_systems",
    "service_items",
    "extranet_nodes",
    "devices",
    "node_access",
    "determinations",
)

FUNCTIONS = """
CREATE OR REPLACE FUNCTION yw_row_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO row_count_deltas (kind, n) SELECT TG_TABLE_NAME, count(*) FROM yw_new_rows HAVING count(*) > 0;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION yw_row_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO row_count_deltas (kind, n) SELECT TG_TABLE_NAME, -count(*) FROM yw_old_rows HAVING count(*) > 0;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION yw_row_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM row_count_deltas WHERE kind = TG_TABLE_NAME;
  INSERT INTO row_count_deltas (kind, n) VALUES (TG_TABLE_NAME, 0);
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "row_count_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_row_count_deltas")),
    )
    op.create_index(op.f("ix_row_count_deltas_kind"), "row_count_deltas", ["kind"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTIONS)
    for t in TABLES:
        op.execute(
            f"CREATE TRIGGER yw_count_ins_{t} AFTER INSERT ON {t} REFERENCING NEW TABLE AS yw_new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION yw_row_count_insert()"
        )
        op.execute(
            f"CREATE TRIGGER yw_count_del_{t} AFTER DELETE ON {t} REFERENCING OLD TABLE AS yw_old_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION yw_row_count_delete()"
        )
        op.execute(
            f"CREATE TRIGGER yw_count_trunc_{t} AFTER TRUNCATE ON {t} FOR EACH STATEMENT "
            "EXECUTE FUNCTION yw_row_count_truncate()"
        )
        op.execute(f"INSERT INTO row_count_deltas (kind, n) SELECT '{t}', count(*) FROM {t}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for t in TABLES:
            for name in (f"yw_count_ins_{t}", f"yw_count_del_{t}", f"yw_count_trunc_{t}"):
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {t}")
        for fn in ("yw_row_count_insert", "yw_row_count_delete", "yw_row_count_truncate"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
    op.drop_index(op.f("ix_row_count_deltas_kind"), table_name="row_count_deltas")
    op.drop_table("row_count_deltas")
