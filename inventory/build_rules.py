"""No new infrastructure without the office's say: creating a non-classified room, dedicated network, internet
exit or cloud needs a recorded determination of the cloud-chief office allowing it (decision `allow_new`,
`new_object_code` = the new object's code). Policy: 《广西政务数据资源管理与应用改革方案》§二(二)1 (原则上不得新建业务
专网、数据中心、云平台等基础资源) and, for rooms, 《广西政务数据“聚通用”攻坚行动计划》§二(一)1 (各县（市、区）原则上不再新建
政务数据中心)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import times
from core.db import Base
from core.enums import ChangeAction
from core.models import ChangeLog
from inventory.enums import Decision, SubjectKind
from inventory.models import Determination

# kind → (determination subject kind, 中文, English)
GUARDED: dict[str, tuple[SubjectKind, str, str]] = {
    "rooms": (SubjectKind.ROOM, "非涉密机房/数据中心", "non-classified room or data centre"),
    "networks": (SubjectKind.NETWORK, "非涉密业务专网", "non-classified dedicated network"),
    "internet_exits": (SubjectKind.EXIT, "互联网出口", "internet exit"),
    "clouds": (SubjectKind.CLOUD, "云平台", "cloud platform"),
}
POLICY = "《广西政务数据资源管理与应用改革方案》§二(二)1：原则上不得新建业务专网、数据中心、云平台等基础资源"
ROOM_POLICY = "《广西政务数据“聚通用”攻坚行动计划》§二(一)1：各县（市、区）原则上不再新建政务数据中心"


@dataclass(frozen=True)
class Use:
    """A creation (or declassification) an allow_new determination was spent on."""

    determination: str
    kind: str
    object_id: int
    object_code: str  # the object's code now (or when deleted, the code it was created with)


def _spends(entry: ChangeLog) -> bool:
    """Whether a change-log entry is a new build: creating a non-classified object, or declassifying one."""
    after: Mapping[str, Any] = entry.after or {}
    if entry.action == ChangeAction.CREATE:
        return not after.get("classified")
    before: Mapping[str, Any] = entry.before or {}
    return entry.action == ChangeAction.UPDATE and bool(before.get("classified")) and not after.get("classified")


def _use_of(session: Session, kind: str, det: Determination, code: str) -> Use | None:
    """The object this determination was spent on: the first new build of that code recorded after it."""
    since = session.scalar(
        select(func.min(ChangeLog.id)).where(ChangeLog.kind == "determinations", ChangeLog.object_id == det.id)
    )
    entries = session.scalars(
        select(ChangeLog)
        .where(ChangeLog.kind == kind, ChangeLog.object_code == code, ChangeLog.id > (since or 0))
        .order_by(ChangeLog.id)
    )
    for entry in entries:
        if _spends(entry):
            table = Base.metadata.tables[kind]  # a guarded kind's table is named like the kind
            now_code = session.scalar(select(table.c.code).where(table.c.id == entry.object_id))
            return Use(det.code, kind, entry.object_id, now_code or code)
    return None


def allowance(session: Session, kind: str, code: str, today: date | None = None) -> tuple[bool, Use | None]:
    """(allowed, use): whether an allow_new determination in force (active, decided on or before today, Beijing
    date) names this code for this kind and is not spent yet; else the use that spent the last such one."""
    subject = GUARDED[kind][0]
    dets = session.scalars(
        select(Determination)
        .where(
            Determination.subject_kind == subject,
            Determination.decision == Decision.ALLOW_NEW,
            Determination.new_object_code == code,
            Determination.active.is_(True),
            Determination.decided_on <= (today or times.today_beijing()),
        )
        .order_by(Determination.decided_on, Determination.id)
    ).all()
    spent: Use | None = None
    for det in dets:
        use = _use_of(session, kind, det, code)
        if use is None:
            return True, None
        spent = use
    return False, spent


def allowed(session: Session, kind: str, code: str) -> bool:
    """Whether an unspent allow_new determination in force names this code for this kind."""
    return allowance(session, kind, code)[0]


def new_build_problem(
    session: Session, kind: str, state: Mapping[str, Any], before: Mapping[str, Any] | None = None
) -> str | None:
    """Why this new build is refused (None when allowed or not a new build). A new build is creating a
    non-classified object, or making a classified one non-classified (`before` is the object's snapshot)."""
    if kind not in GUARDED or state.get("classified"):
        return None
    declassified = state.get("id") is not None and before is not None and bool(before.get("classified"))
    if state.get("id") is not None and not declassified:
        return None
    code = str(state.get("code") or "")
    ok, use = allowance(session, kind, code)
    if ok:
        return None
    subject, zh, en = GUARDED[kind]
    policy = POLICY + ("；" + ROOM_POLICY if kind == "rooms" else "")
    if declassified:
        what_zh, what_en = f"将涉密{zh.removeprefix('非涉密')} {code} 改为非涉密", f"declassifying {code} (a new {en})"
    else:
        what_zh, what_en = f"新建{zh} {code}", f"a new {en} ({code})"
    spent = (
        f"准予新建认定 {use.determination} 已用于 {use.object_code}（{kind} id {use.object_id}），每项认定只准新建一个；"
        if use
        else ""
    )
    spent_en = (
        f"; determination {use.determination} was already used by {use.object_code} ({kind} id {use.object_id})"
        if use
        else ""
    )
    return (
        f"{what_zh} 须有云长制办公室准予新建的技术认定（认定对象类型 {subject.value}，认定结论 allow_new，"
        f"准予新建对象编码 {code}）。{spent}依据{policy} / {what_en} needs a recorded determination of the "
        f"cloud-chief office allowing it (decision allow_new, new_object_code {code}){spent_en}"
    )


def determination_problems(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(message, field) for an allow_new determination without a code, or any other without a subject."""
    out: list[tuple[str, str]] = []
    if state.get("decision") == Decision.ALLOW_NEW:
        if not str(state.get("new_object_code") or "").strip():
            out.append(("准予新建的认定须写明准予新建对象编码 / allow_new needs new_object_code", "new_object_code"))
        if state.get("subject_kind") not in {g[0] for g in GUARDED.values()}:
            out.append(
                (
                    "只有机房、专网、互联网出口、云平台需要准予新建 / allow_new is for room|network|exit|cloud",
                    "subject_kind",
                )
            )
    elif state.get("subject_id") is None:
        out.append(("认定对象必填 / subject_id is required", "subject_id"))
    return out
