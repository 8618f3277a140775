"""No new infrastructure without the office's say: creating a non-classified room, dedicated network, internet
exit or cloud needs a recorded determination of the cloud-chief office allowing it (decision `allow_new`,
`new_object_code` = the new object's code). Policy: 《广西政务数据资源管理与应用改革方案》§二(二)1 (原则上不得新建业务
专网、数据中心、云平台等基础资源) and, for rooms, 《广西政务数据“聚通用”攻坚行动计划》§二(一)1 (各县（市、区）原则上不再新建
政务数据中心)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def allowed(session: Session, kind: str, code: str) -> bool:
    """Whether an active allow_new determination names this code for this kind."""
    subject = GUARDED[kind][0]
    found = session.scalar(
        select(Determination.id).where(
            Determination.subject_kind == subject,
            Determination.decision == Decision.ALLOW_NEW,
            Determination.new_object_code == code,
            Determination.active.is_(True),
        )
    )
    return found is not None


def new_build_problem(session: Session, kind: str, state: Mapping[str, Any]) -> str | None:
    """Why creating this object is refused (None when allowed or not guarded). Only for creations."""
    if kind not in GUARDED or state.get("id") is not None or state.get("classified"):
        return None
    code = str(state.get("code") or "")
    if allowed(session, kind, code):
        return None
    subject, zh, en = GUARDED[kind]
    policy = POLICY + ("；" + ROOM_POLICY if kind == "rooms" else "")
    return (
        f"新建{zh} {code} 须有云长制办公室准予新建的技术认定（认定对象类型 {subject.value}，认定结论 allow_new，"
        f"准予新建对象编码 {code}）。依据{policy} / a new {en} ({code}) needs a recorded determination of the "
        f"cloud-chief office allowing it (decision allow_new, new_object_code {code})"
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
