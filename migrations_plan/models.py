"""Migration-planning tables: the zombie retirement flow, stored wave plans and their tracked items.

Inventory tables are never written here; status changes of systems and networks go through
`inventory.service`, and every decision in these tables is also appended to the shared change log.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, enum_type


class RetirementState(StrEnum):
    """Zombie retirement flow: proposed → owner confirmed → office approved (or rejected at either step)."""

    PROPOSED = "proposed"
    OWNER_CONFIRMED = "owner_confirmed"
    APPROVED = "approved"
    REJECTED = "rejected"


class ItemStatus(StrEnum):
    """Execution state of one wave item."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    MIGRATED = "migrated"
    VERIFIED = "verified"
    ROLLED_BACK = "rolled_back"


class ItemKind(StrEnum):
    SYSTEM = "system"
    NETWORK = "network"


class RetirementCase(Base):
    """One proposal to retire a zombie system, with the evidence and who decided each step when."""

    __tablename__ = "plan_retirement_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), index=True)
    state: Mapped[RetirementState] = mapped_column(enum_type(RetirementState), index=True)
    score: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner_confirmed_by: Mapped[str | None] = mapped_column(String(100))
    owner_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    determination_id: Mapped[int | None] = mapped_column(ForeignKey("determinations.id"))
    # live systems (any unit) depending on this one when last looked at: [{"id", "code", "unit_id", "status"}]
    dependents: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # the office's explicit override when below the candidate threshold or with live dependents
    override_reason: Mapped[str | None] = mapped_column(Text)


class WavePlan(Base):
    """A computed wave plan as stored: its parameters, summary and who computed it when."""

    __tablename__ = "plan_wave_plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)


class WaveItem(Base):
    """One system or dedicated network in a stored plan: its wave, why it is there, and its execution state."""

    __tablename__ = "plan_wave_items"
    __table_args__ = (UniqueConstraint("plan_id", "kind", "object_id", name="uq_plan_wave_items_object"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan_wave_plans.id", ondelete="CASCADE"), index=True)
    wave: Mapped[int | None] = mapped_column(Integer, index=True)  # None: left out of the plan (see reasons)
    kind: Mapped[ItemKind] = mapped_column(enum_type(ItemKind))
    object_id: Mapped[int] = mapped_column(Integer, index=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int | None] = mapped_column(Integer)
    city_id: Mapped[int | None] = mapped_column(Integer)
    target_cloud_id: Mapped[int | None] = mapped_column(Integer)
    flavor: Mapped[str | None] = mapped_column(String(60))
    group: Mapped[int | None] = mapped_column(Integer)  # dependency cycle group, when moved together
    depends_on: Mapped[list[str]] = mapped_column(JSON)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[ItemStatus] = mapped_column(enum_type(ItemStatus), default=ItemStatus.PLANNED, index=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_changed_by: Mapped[str | None] = mapped_column(String(100))
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # hosting before the move, for roll-back
    request_ref: Mapped[str | None] = mapped_column(String(100))
    regression: Mapped[str | None] = mapped_column(Text)  # last look-back finding, None when clean
