"""Provisioning's durable tables: one run per (request, cloud), its step log, capacity samples, drift reports.

The step log is written *before* a cloud call (STARTED) and right after it (CREATED with the cloud's id, then
READY), each in its own transaction, so a killed orchestrator can resume without orphans or duplicates.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, enum_type
from inventory.models import Timestamped


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"  # failed for good; everything it created was deleted
    ROLLBACK_PENDING = "rollback_pending"  # failed, and a compensating delete failed too: resume finishes it
    RETIRING = "retiring"
    RETIRED = "retired"


class StepStatus(StrEnum):
    STARTED = "started"  # about to call the cloud; the resource may or may not exist
    CREATED = "created"  # the cloud gave it an id
    READY = "ready"  # usable (server ACTIVE, volume available, attachment in-use)
    DELETED = "deleted"  # compensated or retired
    ADOPTED = "adopted"  # pre-existing, not ours (e.g. the unit's project): never deleted


class ProvisionRun(Timestamped, Base):
    __tablename__ = "provision_runs"
    __table_args__ = (UniqueConstraint("request_id", "cloud", name="uq_provision_runs_request_cloud"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    cloud: Mapped[str] = mapped_column(String(100), index=True)
    unit_code: Mapped[str] = mapped_column(String(40))
    project: Mapped[str] = mapped_column(String(100))
    project_id: Mapped[str | None] = mapped_column(String(64))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[RunStatus] = mapped_column(enum_type(RunStatus), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # transient-error retries
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)


class ProvisionStep(Timestamped, Base):
    __tablename__ = "provision_steps"
    __table_args__ = (UniqueConstraint("run_id", "key", name="uq_provision_steps_run_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("provision_runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    cloud_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[StepStatus] = mapped_column(enum_type(StepStatus))
    attrs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    owned: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str | None] = mapped_column(Text)


class CapacitySample(Base):
    __tablename__ = "cloud_capacity_samples"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    cloud: Mapped[str] = mapped_column(String(100), index=True)
    host: Mapped[str] = mapped_column(String(200))
    resource_class: Mapped[str] = mapped_column(String(64))
    total: Mapped[float] = mapped_column(Float)
    used: Mapped[int] = mapped_column(Integer)


class DriftReport(Base):
    __tablename__ = "cloud_drift_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    cloud: Mapped[str] = mapped_column(String(100), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    unknown: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
