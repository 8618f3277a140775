"""The zombie retirement flow: proposed → the owner unit confirms → the cloud-chief office approves.

Approval retires the system through `inventory.service` (status "retired", which takes it out of the
rate denominators) and records a technical determination "retire" with the reason, who and when.
Every step is appended to the shared change log (kind `plan_retirement_cases`).

Retirement cannot raise a unit's rate behind the office's back: when the system is not a zombie candidate
*at approval* (it is scored again then: the proposal's score may be stale), or live systems (of any unit)
still depend on it, approval needs the office's explicit override with a reason. The dependents are listed
on the case at every step, for everyone involved, and named in the retire determination.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from core.audit import ChangeContext, json_value, record_change
from core.enums import ChangeAction
from core.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from inventory import service
from inventory.enums import Decision, SubjectKind, SystemStatus
from inventory.models import Determination, InformationSystem, system_depends_on
from migrations_plan.load import system_facts
from migrations_plan.models import RetirementCase, RetirementState
from migrations_plan.zombies import Criteria, ProbeHistory, Utilisation, ZombieScore, score

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


def dependents_of(session: Session, system_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Per system: the systems of any unit that depend on it now and are not retired, by code."""
    wanted = sorted(set(system_ids))
    out: dict[int, list[dict[str, Any]]] = {sid: [] for sid in wanted}
    if not wanted:
        return out
    rows = session.execute(
        select(
            system_depends_on.c.target_id,
            InformationSystem.id,
            InformationSystem.code,
            InformationSystem.owner_unit_id,
            InformationSystem.status,
        )
        .join(system_depends_on, system_depends_on.c.system_id == InformationSystem.id)
        .where(system_depends_on.c.target_id.in_(wanted), InformationSystem.status != SystemStatus.RETIRED)
        .order_by(InformationSystem.code)
    )
    for target, i, c, u, s in rows:
        out[target].append({"id": i, "code": c, "unit_id": u, "status": s.value})
    return out


def live_dependents(session: Session, system_id: int) -> list[dict[str, Any]]:
    """Systems of any unit that depend on this one and are not retired, by code."""
    return dependents_of(session, [system_id])[system_id]


def current_score(
    session: Session,
    system_id: int,
    today: date,
    utilisation: Utilisation | None = None,
    probes: ProbeHistory | None = None,
) -> ZombieScore | None:
    """The system's zombie score on `today`, from the inventory as it is now (None when the system is gone)."""
    facts = system_facts(session, system_id, today)
    if facts is None:
        return None
    repl = session.scalar(select(InformationSystem.code).where(InformationSystem.id == facts.replaced_by_id))
    return score(facts, today, utilisation=utilisation, probes=probes, replacement_code=repl)


def override_needed(case: RetirementCase, now: ZombieScore | None, dependents: list[dict[str, Any]]) -> list[Problem]:
    """Why approving this case needs the office's explicit override (empty when it does not).

    `now` is the system's score today: a case proposed as a candidate is no longer one when, say, the system
    has been used since (the proposal's score is history, not a reason to retire).
    """
    out = []
    if now is not None and not now.candidate:
        changed = now.score != case.score
        then = f"（提出时为 {case.score:g}）" if changed else ""
        then_en = f" (it was {case.score:g} at proposal)" if changed else ""
        out.append(
            Problem(
                f"得分 {now.score:g} 低于僵尸系统候选阈值 {Criteria().candidate_score:g}，且无 12 个月未使用证据{then} / "
                f"score {now.score:g} is below the candidate threshold and there is no 12-month non-use evidence"
                f"{then_en}",
                field="score",
                value=now.score,
            )
        )
    if dependents:
        codes = ", ".join(d["code"] for d in dependents)
        out.append(
            Problem(
                f"仍有在用系统依赖它：{codes} / live systems still depend on it: {codes}",
                field="dependents",
                value=[d["code"] for d in dependents],
            )
        )
    return out


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
    case.dependents = live_dependents(session, system.id)
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
    case.dependents = live_dependents(session, system.id)
    case.owner_confirmed_by = ctx.actor
    case.owner_confirmed_at = ctx.when()
    if note:
        case.decision_note = note
    _log(session, ctx, case, before, system.code)
    return case


def approve(
    session: Session,
    case_id: int,
    ctx: ChangeContext,
    today: date,
    note: str | None = None,
    override_reason: str | None = None,
    utilisation: Utilisation | None = None,
    probes: ProbeHistory | None = None,
) -> RetirementCase:
    """The office approves: the system is retired and a "retire" determination is recorded (all audited).

    The system is scored again on `today` (with the evidence given, if any). When it is no longer a candidate,
    or has live dependents, only with `override_reason` (409 otherwise, nothing written); the override and the
    dependents at that moment are kept on the case and named in the determination's reason.
    """
    case = get_case(session, case_id)
    system = _system(session, case.system_id)
    if case.state != RetirementState.OWNER_CONFIRMED:
        raise Conflict(
            f"case {case_id} is {case.state.value}; the owner unit must confirm first",
            [Problem("needs owner confirmation", field="state", value=case.state.value)],
        )
    if override_reason is not None and not override_reason.strip():
        raise ValidationFailed(
            "an override needs a reason / 例外批准须说明理由", [Problem("empty", field="override_reason")]
        )
    dependents = live_dependents(session, system.id)
    now = current_score(session, system.id, today, utilisation, probes)
    needs = override_needed(case, now, dependents)
    if needs and override_reason is None:
        raise Conflict(
            f"retiring {system.code} needs the office's explicit override with a reason / 下线 {system.code} 须云长办"
            "明确例外批准并说明理由",
            [*needs, Problem("give override_reason", field="override_reason")],
        )
    before = case_dict(case)
    case.dependents = dependents
    if needs:
        case.override_reason = override_reason
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
            "reason": f"僵尸系统清理 / zombie retirement (score {now.score if now else case.score:g}): {case.reason}"
            + f"；批准时依赖它的在用系统 / live dependents at approval: {_dependents_text(dependents)}"
            + (f"；例外批准 / override: {override_reason}" if needs else ""),
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


def _dependents_text(dependents: list[dict[str, Any]]) -> str:
    """`AG-O（单位 7，not_migrated）, …`, or 无 / none."""
    if not dependents:
        return "无 / none"
    return ", ".join(f"{d['code']}（单位 unit {d['unit_id']}，{d['status']}）" for d in dependents)


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
