"""Request notifications (core/notifications outbox), emitted in the request's own transaction.

- approval waiting: first level → the `sub_cloud_chief` of exactly the request's sub-cloud-chief unit; final →
  the cloud-chief office. Emitted once the submission or the first approval settled (`awaiting`), so a request
  the system approves tells nobody it waits.
- approved / rejected / provisioned / failed (`transition`): the requester(s) by name and the department users
  whose unit subtree holds the request's unit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.enums import Role
from core.notifications.models import EventType
from core.notifications.outbox import Audience, emit
from orchestrator.requests.lifecycle import RequestStatus
from orchestrator.requests.models import RequestEvent, ResourceRequest

OUTCOMES: dict[RequestStatus, EventType] = {
    RequestStatus.APPROVED: EventType.REQUEST_APPROVED,
    RequestStatus.REJECTED: EventType.REQUEST_REJECTED,
    RequestStatus.ACTIVE: EventType.REQUEST_PROVISIONED,
    RequestStatus.FAILED: EventType.REQUEST_FAILED,
}
LEVELS = {
    False: ("一级（子云长单位）", "first-level (sub-cloud chief)"),
    True: ("终审（云长办）", "final (cloud-chief office)"),
}


def _payload(row: ResourceRequest, message: str | None) -> dict[str, object]:
    clouds = ", ".join(c for c in (row.primary_cloud, row.replica_cloud) if c)
    return {"request_id": row.id, "code": row.code, "title": row.title, "message": message or "", "clouds": clouds}


def awaiting(session: Session, row: ResourceRequest) -> None:
    """A submitted request waits for its next approval: tell those who may give it (once per level)."""
    if row.status != RequestStatus.SUBMITTED:
        return
    final = row.first_level_done
    if final:
        audience = Audience(roles=frozenset({Role.CLOUD_CHIEF_OFFICE}), unit_id=row.unit_id)
    else:
        audience = Audience(roles=frozenset({Role.SUB_CLOUD_CHIEF}), unit_id=row.approver_unit_id, unit_exact=True)
    level_zh, level_en = LEVELS[final]
    payload = _payload(row, None) | {"level": "final" if final else "first", "level_zh": level_zh, "level_en": level_en}
    emit(session, EventType.APPROVAL_WAITING, audience, payload, f"approval_waiting:{row.code}:{payload['level']}")


def transition(session: Session, row: ResourceRequest, event: RequestEvent, requesters: frozenset[str]) -> None:
    """After a transition: its outcome (approved, rejected, provisioned, failed) to the requesters."""
    kind = OUTCOMES.get(row.status)
    if kind is None:
        return
    audience = Audience(roles=frozenset({Role.DEPARTMENT_USER}), principals=requesters, unit_id=row.unit_id)
    message = row.failure_reason if kind == EventType.REQUEST_FAILED else event.message
    emit(session, kind, audience, _payload(row, message), f"{kind.value}:{row.code}:{event.id}")
