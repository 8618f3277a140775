"""Response models of the planning router (migrations_plan/api.py): readiness, zombies, retirements, waves."""

from __future__ import annotations

from typing import Any

from core.responses import Number, ResponseModel
from core.times import OutputTime


class Reason(ResponseModel):
    code: str
    severity: str
    zh: str
    en: str


class DemandOut(ResponseModel):
    vcpus: Number
    memory_gb: Number
    storage_gb: Number


class AssessmentOut(ResponseModel):
    """A system's migration readiness: outcome, reasons, sizing and candidate target clouds."""

    system_id: int
    code: str
    unit_id: int | None
    hosting: str
    room_id: int | None
    cloud_id: int | None
    status: str
    outcome: str
    reasons: list[Reason]
    flavor: str | None
    instances: int | None
    demand: DemandOut | None
    target_cloud_id: int | None
    candidate_clouds: list[int]


class ReadinessPage(ResponseModel):
    items: list[AssessmentOut]
    total: int
    by_outcome: dict[str, int]


class EvidenceOut(ResponseModel):
    """One criterion met, its points and the facts that earned them."""

    criterion: str
    zh: str
    en: str
    points: Number
    facts: dict[str, Any]


class ZombieOut(ResponseModel):
    system_id: int
    code: str
    name: str
    unit_id: int
    score: Number
    candidate: bool
    basis: str | None
    evidence: list[EvidenceOut]


class ZombiePage(ResponseModel):
    items: list[ZombieOut]
    total: int


class DependentOut(ResponseModel):
    """A system that depends on the one being retired (any unit, not retired)."""

    id: int
    code: str
    unit_id: int | None
    status: str


class RetirementCaseOut(ResponseModel):
    """A retirement case; an open case also shows its live dependents and why approval would need an override."""

    id: int
    system_id: int
    state: str
    score: Number
    evidence: list[dict[str, Any]]
    reason: str
    proposed_by: str
    proposed_at: OutputTime
    owner_confirmed_by: str | None
    owner_confirmed_at: OutputTime | None
    decided_by: str | None
    decided_at: OutputTime | None
    decision_note: str | None
    determination_id: int | None
    dependents: list[DependentOut] | None
    override_reason: str | None
    override_needed: list[str]


class PlanSummary(ResponseModel):
    waves: int
    items: int
    planned: int
    unplanned: int
    per_wave: dict[str, int]
    cycles: list[list[str]]


class PlannedItemOut(ResponseModel):
    key: str
    kind: str
    id: int
    code: str
    name: str
    unit_id: int | None
    city_id: int | None
    wave: int | None
    target_cloud_id: int | None
    flavor: str | None
    group: int | None
    depends_on: list[str]
    reasons: list[str]


class ComputedPlanOut(ResponseModel):
    """A computed plan; `plan_id` only when it was stored."""

    summary: PlanSummary
    items: list[PlannedItemOut]
    plan_id: int | None = None


class WavePlanOut(ResponseModel):
    id: int
    name: str
    created_by: str
    created_at: OutputTime | None
    params: dict[str, Any]
    summary: PlanSummary


class Note(ResponseModel):
    code: str
    zh: str
    en: str


class WaveItemOut(ResponseModel):
    """A stored wave item with its progress; `stale` notes what changed in the inventory since the plan."""

    id: int
    plan_id: int
    wave: int | None
    kind: str
    object_id: int
    code: str
    name: str
    unit_id: int | None
    city_id: int | None
    target_cloud_id: int | None
    flavor: str | None
    group: int | None
    depends_on: list[str]
    reasons: list[str]
    status: str
    status_changed_at: OutputTime | None
    status_changed_by: str | None
    previous: dict[str, Any] | None
    request_ref: str | None
    regression: str | None
    stale: list[Note]


class WaveItemMovedOut(WaveItemOut):
    warnings: list[Note]


class WavePlanDetail(WavePlanOut):
    superseded_by: int | None
    stale_items: int
    items: list[WaveItemOut]


class FindingOut(ResponseModel):
    kind: str
    object_id: int
    code: str
    problem: str
    zh: str
    en: str
    item_id: int | None


class LookbackOut(ResponseModel):
    findings: list[FindingOut]
    total: int
