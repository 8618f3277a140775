"""determinations: new_object_code for a new object the office allows (准予新建); subject_id nullable

Revision ID: 0002_inventory_new_object_code
Revises: 284709f0444a
Create Date: 2026-12-01 05:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_inventory_new_object_code"
down_revision: str | Sequence[str] | None = "284709f0444a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("determinations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("new_object_code", sa.String(length=40), nullable=True))
        batch_op.alter_column("subject_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_determinations_new_object_code"), ["new_object_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("determinations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_determinations_new_object_code"))
        batch_op.alter_column("subject_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("new_object_code")
