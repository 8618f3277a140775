"""Decisions in force that a plan may not contradict, and progress recorded out of dependency order.

A stored wave plan is a snapshot; decisions taken after it (a retirement, an exemption, a classification)
win over it. Tracking refuses any step that would contradict one (409, nothing written), stored plans show
such items as stale, and moving a system before what it depends on gives a warning (and a look-back finding).

A stored item names its subject by id *and* code: an id alone is not an identity (SQLite gives the id of a
deleted last row to the next new one), so an item whose id now belongs to an object with another code is
about a subject that is gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import Decision, NetworkStatus, SubjectKind, SystemStatus
from inventory.models import DedicatedNetwork, Determination, InformationSystem, system_depends_on
from migrations_plan.load import in_force
from migrations_plan.models import ItemKind, WaveItem

# Decisions that take a subject out of migration: a plan item for it must not move it any more.
STAYS = (Decision.RETIRE, Decision.EXEMPT, Decision.KEEP)
_DECISION_ZH = {Decision.RETIRE: "认定下线", Decision.EXEMPT: "认定豁免", Decision.KEEP: "认定保留现状"}


@dataclass(frozen=True)
class Note:
    """One contradiction or warning, Chinese first with English beside."""

    code: str
    zh: str
    en: str

    def text(self) -> str:
        return f"{self.zh} / {self.en}"


def decisions_in_force(
    session: Session, kind: SubjectKind, ids: Iterable[int], today: date | None = None
) -> dict[int, Decision]:
    """The determination in force per subject: the newest active one decided by `today` (by date, then record)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Determination.subject_id, Determination.decision)
        .where(Determination.subject_kind == kind, in_force(today), Determination.subject_id.in_(wanted))
        .order_by(Determination.decided_on, Determination.id)
    )
    return {sid: decision for sid, decision in rows if sid is not None}


def _system_notes(s: InformationSystem, decision: Decision | None) -> list[Note]:
    out = []
    if s.classified:
        out.append(Note("classified", f"{s.code} 为涉密系统，不得上云", f"{s.code} is classified: never on a cloud"))
    if s.status == SystemStatus.RETIRED:
        out.append(Note("retired", f"{s.code} 已下线", f"{s.code} is retired"))
    if decision in STAYS:
        out.append(
            Note(
                f"decision_{decision.value}",
                f"{s.code} 现行技术认定为“{_DECISION_ZH[decision]}”",
                f"{s.code} has a determination in force: {decision.value}",
            )
        )
    return out


def _network_notes(n: DedicatedNetwork, decision: Decision | None) -> list[Note]:
    out = []
    if n.classified:
        out.append(Note("classified", f"{n.code} 为涉密专网", f"{n.code} is classified"))
    if n.status == NetworkStatus.RETIRED:
        out.append(Note("retired", f"{n.code} 已撤销", f"{n.code} is retired"))
    if decision in STAYS:
        out.append(
            Note(
                f"decision_{decision.value}",
                f"{n.code} 现行技术认定为“{_DECISION_ZH[decision]}”",
                f"{n.code} has a determination in force: {decision.value}",
            )
        )
    return out


def stale_notes(session: Session, items: Iterable[WaveItem], today: date | None = None) -> dict[int, list[Note]]:
    """Per wave item id: the decisions in force its plan contradicts (or its subject is gone); clean items absent."""
    items = list(items)
    sys_ids = [i.object_id for i in items if i.kind == ItemKind.SYSTEM]
    net_ids = [i.object_id for i in items if i.kind == ItemKind.NETWORK]
    systems = (
        {s.id: s for s in session.scalars(select(InformationSystem).where(InformationSystem.id.in_(sys_ids)))}
        if sys_ids
        else {}
    )
    networks = (
        {n.id: n for n in session.scalars(select(DedicatedNetwork).where(DedicatedNetwork.id.in_(net_ids)))}
        if net_ids
        else {}
    )
    sys_dec = decisions_in_force(session, SubjectKind.SYSTEM, sys_ids, today)
    net_dec = decisions_in_force(session, SubjectKind.NETWORK, net_ids, today)
    out: dict[int, list[Note]] = {}
    for i in items:
        # the object under the item's id must still carry the item's code: otherwise the subject is gone
        if i.kind == ItemKind.SYSTEM:
            s = systems.get(i.object_id)
            notes = _system_notes(s, sys_dec.get(s.id)) if s is not None and s.code == i.code else [_gone(i)]
        else:
            n = networks.get(i.object_id)
            notes = _network_notes(n, net_dec.get(n.id)) if n is not None and n.code == i.code else [_gone(i)]
        if notes:
            out[i.id] = notes
    return out


def _gone(i: WaveItem) -> Note:
    return Note("deleted", f"{i.code} 已不在清单中", f"{i.code} is no longer in the inventory")


def out_of_order(session: Session, system_id: int, today: date | None = None) -> list[Note]:
    """Dependencies of a system still to move (not migrated, not retired, not classified, no staying decision)."""
    dep_ids = list(
        session.scalars(select(system_depends_on.c.target_id).where(system_depends_on.c.system_id == system_id))
    )
    if not dep_ids:
        return []
    deps = session.scalars(
        select(InformationSystem).where(InformationSystem.id.in_(dep_ids)).order_by(InformationSystem.code)
    ).all()
    decided = decisions_in_force(session, SubjectKind.SYSTEM, dep_ids, today)
    out = []
    for d in deps:
        if d.classified or d.status in (SystemStatus.MIGRATED, SystemStatus.RETIRED) or decided.get(d.id) in STAYS:
            continue
        out.append(
            Note(
                "out_of_order",
                f"先于其依赖系统 {d.code}（{d.status.value}）迁移",
                f"migrated before its dependency {d.code} ({d.status.value})",
            )
        )
    return out
