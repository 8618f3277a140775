"""Tables of the dashboards package: published monthly supervision reports (督查通报), frozen once written."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class PublishedReport(Base):
    """A published monthly report: the exact XLSX and HTML bytes as first rendered, never rewritten."""

    __tablename__ = "published_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # YYYY-MM
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    xlsx: Mapped[bytes] = mapped_column(LargeBinary)
    xlsx_sha256: Mapped[str] = mapped_column(String(64))
    html: Mapped[bytes] = mapped_column(LargeBinary)
    html_sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)


class RateSnapshot(Base):
    """The grouped counts of every rate as of one moment (a month end), stored so "as of a past month" is a read.

    `log_count` (change-log rows written at or before `at`) and `regions_log_count` (change-log rows of the
    region tree, read live by the rates) are the inputs the figures depend on: the snapshot is used only while
    both still match (dashboards.rate_snapshots); a back-dated change or a region edit makes it stale.
    """

    __tablename__ = "rate_snapshots"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), unique=True)
    log_count: Mapped[int] = mapped_column(Integer)
    regions_log_count: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    taken_by: Mapped[str] = mapped_column(String(100))


class RateSnapshotCount(Base):
    """One group of a snapshot: items of a rate per (owner unit, region, category)."""

    __tablename__ = "rate_snapshot_counts"
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("rate_snapshots.id", ondelete="CASCADE"), index=True)
    rate_key: Mapped[str] = mapped_column(String(40))
    unit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    region_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    category: Mapped[str] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(Integer)
