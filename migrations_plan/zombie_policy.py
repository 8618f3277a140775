"""Zombies cost nothing new (《全区政务信息系统整合共享工作要点》§三(一): 停止对“僵尸”信息系统改造升级项目的立项审批，
不再安排运维经费).

What a resource request for a system may get: a retired system nothing (refused, with the reason); a zombie
candidate (an open retirement case, or a score reaching the candidate threshold) only with the cloud-chief
office's own approval — never automatically — with the reason shown on the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import Decision, SystemStatus
from inventory.models import InformationSystem
from migrations_plan.load import system_facts
from migrations_plan.models import RetirementCase
from migrations_plan.retirement import OPEN
from migrations_plan.zombies import Criteria, score

POLICY = "《全区政务信息系统整合共享工作要点》§三(一)"


@dataclass(frozen=True)
class Verdict:
    """`refused`: the request may not exist; `office_review`: only the office may approve it (no auto-approval)."""

    refused: str | None = None
    office_review: str | None = None


def verdict(session: Session, system_id: int, today: date, criteria: Criteria = Criteria()) -> Verdict:
    s = system_facts(session, system_id)
    if s is None:
        return Verdict()
    if s.status == SystemStatus.RETIRED or s.determination == Decision.RETIRE:
        return Verdict(
            refused=f"系统 {s.code} 已认定下线（僵尸系统清理），不再为其安排新资源（{POLICY}）/ "
            f"system {s.code} is retired: no new resources for it"
        )
    case = session.scalar(
        select(RetirementCase)
        .where(RetirementCase.system_id == s.id, RetirementCase.state.in_(OPEN))
        .order_by(RetirementCase.id.desc())
        .limit(1)
    )
    repl = session.scalar(select(InformationSystem.code).where(InformationSystem.id == s.replaced_by_id))
    z = score(s, today, criteria, replacement_code=repl)
    if case is None and not z.candidate:
        return Verdict()
    zh: list[str] = []
    en: list[str] = []
    if case is not None:
        zh.append(f"下线流程 #{case.id} 进行中（{case.state.value}）")
        en.append(f"retirement case #{case.id} is open ({case.state.value})")
    if z.candidate:
        zh.append(f"僵尸系统候选，得分 {z.score:g}（{'、'.join(e.zh for e in z.evidence)}）")
        en.append(f"zombie candidate, score {z.score:g} ({'; '.join(e.en for e in z.evidence)})")
    return Verdict(
        office_review=f"系统 {s.code}：{'；'.join(zh)}。须云长制办公室审批，不自动审批（{POLICY}）/ "
        f"system {s.code}: {'; '.join(en)}; only the cloud-chief office may approve, no auto-approval"
    )
