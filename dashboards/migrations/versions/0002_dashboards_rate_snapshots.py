"""dashboards rate snapshots (month-end counts of every rate)

Revision ID: 0002_dashboards
Revises: 0001_dashboards
Create Date: 2026-12-01 20:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002_dashboards'
down_revision: str | Sequence[str] | None = '0001_dashboards'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('log_count', sa.Integer(), nullable=False),
    sa.Column('regions_log_count', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('taken_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_snapshots')),
    sa.UniqueConstraint('at', name=op.f('uq_rate_snapshots_at'))
    )
    op.create_table('rate_snapshot_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('rate_key', sa.String(length=40), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('region_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['rate_snapshots.id'], name=op.f('fk_rate_snapshot_counts_snapshot_id_rate_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_snapshot_counts'))
    )
    op.create_index(op.f('ix_rate_snapshot_counts_snapshot_id'), 'rate_snapshot_counts', ['snapshot_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rate_snapshot_counts_snapshot_id'), table_name='rate_snapshot_counts')
    op.drop_table('rate_snapshot_counts')
    op.drop_table('rate_snapshots')
