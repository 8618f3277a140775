"""task files: an import's upload and a report's result beside their job

Revision ID: 5d1e7a2c9b40
Revises: 831bf86efbe6
Create Date: 2026-12-01 20:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5d1e7a2c9b40'
down_revision: str | Sequence[str] | None = '831bf86efbe6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('task_files',
    sa.Column('job_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('media_type', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job_id', 'role', name=op.f('pk_task_files'))
    )


def downgrade() -> None:
    op.drop_table('task_files')
