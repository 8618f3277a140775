"""The zombie retirement flow: proposed → the owner unit confirms → the cloud-chief office approves.

Approval retires the system through `inventory.service` (status "retired", which takes it out of the
rate denominators) and records a technical determination "retire" with the reason, who and when.
Every step is appended to the shared change log (kind `plan_retirement_cases`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from inventory import service
from inventory.enums import ChangeAction, Decision, SubjectKind, SystemStatus
from inventory.errors import Conflict, Forbidden, NotFound, Problem
from inventory.models import Determination, InformationSystem
from inventory.service import ChangeContext, json_value, record_change
from migrations_plan.models import RetirementCase, RetirementState
from migrations_plan.zombies import ZombieScore

KIND = "plan_retirement_cases"
OPEN = (RetirementState.PROPOSED, RetirementState.OWNER_CONFIRMED)


def case_dict(case: RetirementCase) -> dict[str, Any]:
    return {a.key: json_value(getattr(case, a.key)) for a in inspect(RetirementCase).column_attrs}


def get_case(session: Session, case_id: int) -> RetirementCase:
    case = session.get(RetirementCase, case_id)
    if case is None:
        raise NotFound(f"retirement case {case_id} not found", [Problem("no such id", field="id", value=case_id)])
    return case


def _system(session: Session, system_id: int) -> InformationSystem:
    s = session.get(InformationSystem, system_id)
    if s is None:
        raise NotFound(f"system {system_id} not found", [Problem("no such id", field="system_id", value=system_id)])
    return s


def _check_scope(system: InformationSystem, units: frozenset[int] | None) -> None:
    if units is not None and system.owner_unit_id not in units:
        raise Forbidden(
            f"system {system.code} belongs to another unit", [Problem("outside your unit subtree", field="system_id")]
        )


def _log(session: Session, ctx: ChangeContext, case: RetirementCase, before: dict[str, Any] | None, code: str) -> None:
    session.flush()
    record_change(session, ctx, KIND, case.id, ChangeAction.DECIDE, before, case_dict(case), code)


def propose(session: Session, zombie: ZombieScore, ctx: ChangeContext, reason: str | None = None) -> RetirementCase:
    """Open a retirement case for a zombie candidate (one open case per system)."""
    system = _system(session, zombie.system_id)
    if system.status == SystemStatus.RETIRED:
        raise Conflict(f"system {system.code} is already retired")
    open_case = session.scalar(
        select(RetirementCase.id).where(RetirementCase.system_id == system.id, RetirementCase.state.in_(OPEN))
    )
    if open_case is not None:
        raise Conflict(
            f"system {system.code} already has an open retirement case",
            [Problem("open case exists", field="system_id", value=open_case)],
        )
    text = reason or "；".join(e.zh for e in zombie.evidence) or "僵尸系统 / zombie system"
    case = RetirementCase(
        system_id=system.id,
        state=RetirementState.PROPOSED,
        score=zombie.score,
        evidence=zombie.as_json(),
        reason=text,
        proposed_by=ctx.actor,
        proposed_at=ctx.when(),
    )
    session.add(case)
    _log(session, ctx, case, None, system.code)
    return case


def confirm(
    session: Session, case_id: int, ctx: ChangeContext, units: frozenset[int] | None, note: str | None = None
) -> RetirementCase:
    """The owner unit confirms the system is a zombie (scoped callers only for their own units)."""
    case = get_case(session, case_id)
    system = _system(session, case.system_id)
    _check_scope(system, units)
    if case.state != RetirementState.PROPOSED:
        raise Conflict(f"case {case_id} is {case.state.value}, not proposed")
    before = case_dict(case)
    case.state = RetirementState.OWNER_CONFIRMED
    case.owner_confirmed_by = ctx.actor
    case.owner_confirmed_at = ctx.when()
    if note:
        case.decision_note = note
    _log(session, ctx, case, before, system.code)
    return case


def approve(session: Session, case_id: int, ctx: ChangeContext, today: date, note: str | None = None) -> RetirementCase:
    """The office approves: the system is retired and a "retire" determination is recorded (all audited)."""
    case = get_case(session, case_id)
    system = _system(session, case.system_id)
    if case.state != RetirementState.OWNER_CONFIRMED:
        raise Conflict(
            f"case {case_id} is {case.state.value}; the owner unit must confirm first",
            [Problem("needs owner confirmation", field="state", value=case.state.value)],
        )
    before = case_dict(case)
    for old in session.scalars(
        select(Determination).where(
            Determination.subject_kind == SubjectKind.SYSTEM,
            Determination.subject_id == system.id,
            Determination.active.is_(True),
        )
    ).all():
        service.update(session, "determinations", old.id, {"active": False}, ctx)
    det = service.create(
        session,
        "determinations",
        {
            "code": f"RET-{system.code}-{case.id}",
            "subject_kind": SubjectKind.SYSTEM,
            "subject_id": system.id,
            "decision": Decision.RETIRE,
            "reason": f"僵尸系统清理 / zombie retirement (score {case.score:g}): {case.reason}",
            "decided_by": ctx.actor,
            "decided_on": today,
            "active": True,
        },
        ctx,
    )
    service.update(session, "systems", system.id, {"status": SystemStatus.RETIRED}, ctx)
    case.state = RetirementState.APPROVED
    case.decided_by = ctx.actor
    case.decided_at = ctx.when()
    case.determination_id = det.id  # type: ignore[attr-defined]
    if note:
        case.decision_note = note
    _log(session, ctx, case, before, system.code)
    return case


def reject(
    session: Session, case_id: int, ctx: ChangeContext, units: frozenset[int] | None, note: str | None = None
) -> RetirementCase:
    """The owner unit or the office rejects an open case; the system stays as it is."""
    case = get_case(session, case_id)
    system = _system(session, case.system_id)
    _check_scope(system, units)
    if case.state not in OPEN:
        raise Conflict(f"case {case_id} is already {case.state.value}")
    before = case_dict(case)
    case.state = RetirementState.REJECTED
    case.decided_by = ctx.actor
    case.decided_at = ctx.when()
    case.decision_note = note
    _log(session, ctx, case, before, system.code)
    return case
