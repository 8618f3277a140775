"""Look-back (回头看) checks beyond the moved wave items.

- determinations in force of every subject kind (systems, networks, rooms, internet exits, service items):
  review date passed, subject gone, or a "retire" decision the subject's status does not follow;
- systems that reached "migrated" outside a wave plan: after the first plan was stored, without a
  migrated/verified wave item of any plan;
- migrated systems whose dependencies are still to move (progress out of dependency order).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import ChangeLog
from inventory.enums import Decision, ExitStatus, NetworkStatus, RoomStatus, SubjectKind, SystemStatus
from inventory.models import (
    DedicatedNetwork,
    Determination,
    InformationSystem,
    InternetExit,
    Room,
    ServiceItem,
    system_depends_on,
)
from migrations_plan.guards import STAYS
from migrations_plan.load import in_force
from migrations_plan.models import ItemKind, ItemStatus, WaveItem, WavePlan
from migrations_plan.tracking import Finding

_MODELS: dict[SubjectKind, Any] = {
    SubjectKind.SYSTEM: InformationSystem,
    SubjectKind.NETWORK: DedicatedNetwork,
    SubjectKind.ROOM: Room,
    SubjectKind.EXIT: InternetExit,
    SubjectKind.SERVICE_ITEM: ServiceItem,
}
_KIND_ZH = {
    SubjectKind.SYSTEM: "系统",
    SubjectKind.NETWORK: "专网",
    SubjectKind.ROOM: "机房",
    SubjectKind.EXIT: "互联网出口",
    SubjectKind.SERVICE_ITEM: "服务事项",
}
# Status a subject reaches once a "retire" decision has been carried out.
_RETIRED: dict[SubjectKind, tuple[Any, ...]] = {
    SubjectKind.SYSTEM: (SystemStatus.RETIRED,),
    SubjectKind.NETWORK: (NetworkStatus.RETIRED,),
    SubjectKind.ROOM: (RoomStatus.CLOSED,),
    SubjectKind.EXIT: (ExitStatus.CLOSED, ExitStatus.CONSOLIDATED),
}


def _in_force(session: Session, today: date) -> dict[tuple[SubjectKind, int], Determination]:
    """The determination in force per subject: newest active one decided by `today` (by date, then record)."""
    out: dict[tuple[SubjectKind, int], Determination] = {}
    for d in session.scalars(
        select(Determination)
        .where(in_force(today), Determination.subject_id.is_not(None))
        .order_by(Determination.decided_on, Determination.id)
    ):
        if d.subject_id is not None and d.subject_kind in _MODELS:  # allow_new names a code, not an object
            out[(d.subject_kind, d.subject_id)] = d
    return out


def determination_findings(session: Session, today: date, skip_system_reviews: bool = True) -> list[Finding]:
    """Due reviews, vanished subjects and unfollowed retirements, for every subject kind."""
    decided = _in_force(session, today)
    subjects: dict[SubjectKind, dict[int, Any]] = {}
    for kind, model in _MODELS.items():
        ids = sorted(sid for k, sid in decided if k == kind)
        subjects[kind] = {o.id: o for o in session.scalars(select(model).where(model.id.in_(ids)))} if ids else {}
    out: list[Finding] = []
    for (kind, sid), d in sorted(decided.items(), key=lambda kv: (kv[0][0].value, kv[1].code)):
        obj = subjects[kind].get(sid)
        what = _KIND_ZH[kind]
        if obj is None:
            out.append(
                Finding(
                    kind.value,
                    sid,
                    d.code,
                    "subject_missing",
                    f"认定 {d.code} 的{what}已不在清单中",
                    f"the {kind.value} of determination {d.code} is no longer in the inventory",
                )
            )
            continue
        code = obj.code
        if (
            d.review_on is not None
            and d.review_on <= today
            and not (kind == SubjectKind.SYSTEM and skip_system_reviews)
        ):
            out.append(
                Finding(
                    kind.value,
                    sid,
                    code,
                    "review_due",
                    f"{what}技术认定 {d.code}（{d.decision.value}）回头看日期 {d.review_on} 已到",
                    f"{kind.value} determination {d.code} ({d.decision.value}) due for look-back since {d.review_on}",
                )
            )
        done = _RETIRED.get(kind)
        status = getattr(obj, "status", None)
        if d.decision == Decision.RETIRE and done is not None and status not in done:
            out.append(
                Finding(
                    kind.value,
                    sid,
                    code,
                    "retire_not_followed",
                    f"{what}已认定下线/撤并（{d.code}），但状态仍为 {status.value if status else '—'}",
                    f"{kind.value} decided retired ({d.code}) but its status is still "
                    f"{status.value if status else '-'}",
                )
            )
        if d.decision == Decision.MUST_MIGRATE and getattr(obj, "classified", False):
            out.append(
                Finding(
                    kind.value,
                    sid,
                    code,
                    "classified_must_migrate",
                    f"涉密{what}被认定须迁移（{d.code}），与保密要求冲突",
                    f"classified {kind.value} decided must-migrate ({d.code}): contradicts classification",
                )
            )
    return out


def _migrated_since_first_plan(session: Session) -> set[int]:
    """Systems whose status became "migrated" (change log) after the first wave plan was stored.

    Before the office plans anything, migrations recorded earlier are history, not "outside a plan".
    """
    first = session.scalar(select(func.min(WavePlan.created_at)))
    if first is None:
        return set()
    out: set[int] = set()
    for oid, before, after in session.execute(
        select(ChangeLog.object_id, ChangeLog.before, ChangeLog.after).where(
            ChangeLog.kind == "systems", ChangeLog.at >= first
        )
    ):
        if (after or {}).get("status") == SystemStatus.MIGRATED.value and (before or {}).get(
            "status"
        ) != SystemStatus.MIGRATED.value:
            out.add(oid)
    return out


def progress_findings(session: Session, today: date) -> list[Finding]:
    """Systems migrated outside any wave plan, and migrated systems whose dependencies are still to move."""
    tracked = set(  # (id, code): an item is about the system under its id only while the code still matches
        session.execute(
            select(WaveItem.object_id, WaveItem.code).where(
                WaveItem.kind == ItemKind.SYSTEM, WaveItem.status.in_((ItemStatus.MIGRATED, ItemStatus.VERIFIED))
            )
        ).tuples()
    )
    S = InformationSystem
    rows = {r.id: r for r in session.execute(select(S.id, S.code, S.status, S.classified))}
    decided = {sid: d.decision for (k, sid), d in _in_force(session, today).items() if k == SubjectKind.SYSTEM}
    deps: dict[int, list[int]] = {}
    for sid, tid in session.execute(select(system_depends_on.c.system_id, system_depends_on.c.target_id)):
        deps.setdefault(sid, []).append(tid)
    since_plans = _migrated_since_first_plan(session)
    out: list[Finding] = []
    for s in sorted((r for r in rows.values() if r.status == SystemStatus.MIGRATED), key=lambda r: r.code):
        if (s.id, s.code) not in tracked and s.id in since_plans:
            out.append(
                Finding(
                    "system",
                    s.id,
                    s.code,
                    "migrated_outside_plan",
                    "未经迁移批次计划即标为已迁移，请核实",
                    "marked migrated outside any wave plan: verify",
                )
            )
        for d in sorted((rows[t] for t in deps.get(s.id, ()) if t in rows), key=lambda r: r.code):
            if d.classified or d.status in (SystemStatus.MIGRATED, SystemStatus.RETIRED) or decided.get(d.id) in STAYS:
                continue
            out.append(
                Finding(
                    "system",
                    s.id,
                    s.code,
                    "out_of_order",
                    f"先于其依赖系统 {d.code}（{d.status.value}）迁移",
                    f"migrated before its dependency {d.code} ({d.status.value})",
                )
            )
    return out
