"""change_log index (kind, actor_role, object_id): the rates find self-declared completions without a full scan

Revision ID: 0003_inventory_change_log_role
Revises: 1d0bb2cdc380
Create Date: 2026-12-01 17:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_inventory_change_log_role"
down_revision: str | Sequence[str] | None = "1d0bb2cdc380"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_change_log_kind_role_object", "change_log", ["kind", "actor_role", "object_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_change_log_kind_role_object", table_name="change_log")
