"""Tables of the multi-cloud governance scheduler: resource requests, their events, unit quotas and usage."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, enum_type
from orchestrator.placement.engine import DRLevel
from orchestrator.requests.lifecycle import RequestStatus, TargetHosting


class EventKind(StrEnum):
    """What a request event (notification) reports."""

    CREATED = "created"
    SUBMITTED = "submitted"
    FIRST_APPROVED = "first_approved"
    APPROVED = "approved"
    AUTO_APPROVED = "auto_approved"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    RETIRING = "retiring"
    RETIRED = "retired"
    COMMENT = "comment"
    PLACEMENT_REFUSED = "placement_refused"  # scheduling found no slot; the message lists the reasons
    INTERRUPTED = "interrupted"  # provisioning/retirement stopped short; the message says how to finish it


class ResourceRequest(Base):
    """A unit's request for a bundle of cloud resources, through approval, placement and provisioning."""

    __tablename__ = "resource_requests"
    __table_args__ = (Index("ix_resource_requests_unit_status", "unit_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    system_id: Mapped[int | None] = mapped_column(ForeignKey("systems.id"), index=True)
    target_hosting: Mapped[TargetHosting] = mapped_column(enum_type(TargetHosting), default=TargetHosting.GOV_CLOUD)
    dr_level: Mapped[DRLevel] = mapped_column(enum_type(DRLevel), default=DRLevel.NONE)
    bundle: Mapped[dict[str, Any]] = mapped_column(JSON)
    justification: Mapped[str | None] = mapped_column(Text)
    status: Mapped[RequestStatus] = mapped_column(enum_type(RequestStatus), default=RequestStatus.DRAFT, index=True)
    first_level_done: Mapped[bool] = mapped_column(Boolean, default=False)
    approver_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # the sub-cloud-chief unit
    # What the request consumes in quota (replicas included), kept as columns so reservations sum in SQL.
    d_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    d_ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    d_disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    d_instances: Mapped[int] = mapped_column(Integer, default=0)
    d_floating_ips: Mapped[int] = mapped_column(Integer, default=0)
    placement: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the decision and its explanation
    primary_cloud: Mapped[str | None] = mapped_column(String(100))  # clouds.yaml name
    primary_az: Mapped[str | None] = mapped_column(String(100))
    replica_cloud: Mapped[str | None] = mapped_column(String(100))
    replica_az: Mapped[str | None] = mapped_column(String(100))
    resources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # what provisioning created
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # why the office itself must approve (e.g. the system is a zombie candidate): no auto-approval then
    office_review: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class RequestEvent(Base):
    """A notification about a request: a transition, an approval with its comment, or a plain comment."""

    __tablename__ = "request_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("resource_requests.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # the request's unit, for scoping
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[EventKind] = mapped_column(enum_type(EventKind))
    status: Mapped[RequestStatus] = mapped_column(enum_type(RequestStatus))
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)


class UnitQuota(Base):
    """A unit's quota (配额); a null limit means only the ancestors' limits apply."""

    __tablename__ = "unit_quotas"
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    vcpus: Mapped[int | None] = mapped_column(Integer)
    ram_mb: Mapped[int | None] = mapped_column(Integer)
    disk_gb: Mapped[int | None] = mapped_column(Integer)
    instances: Mapped[int | None] = mapped_column(Integer)
    floating_ips: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class UnitUsage(Base):
    """What a unit really has provisioned (its own requests only; subtree usage is summed when checked)."""

    __tablename__ = "unit_usage"
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    instances: Mapped[int] = mapped_column(Integer, default=0)
    floating_ips: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
