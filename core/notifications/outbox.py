"""The transactional outbox: producers `emit` inside their own transaction, so an event exists iff it committed.

`emit` writes the event and, in the same transaction, one delivery per matching enabled subscription (the pair
is unique, so nothing is delivered twice). A second emit with the same `dedup_key` writes nothing. Matching:

- a role's subscription matches when its role is in the audience; a scoped role (sub_cloud_chief,
  department_user) only for events of a unit in its unit's subtree (`unit_exact`: of exactly its unit);
- a personal subscription (`owner`) matches when the owner is named in the audience, or when the owner's
  current role and unit (their active API token) match as above; an owner without an active token gets nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import Database
from core.enums import Role
from core.identity import SCOPED_ROLES, identity_key, unit_subtree
from core.models import Account, ApiToken
from core.notifications.messages import render
from core.notifications.models import (
    DeliveryStatus,
    EventType,
    NotificationDelivery,
    NotificationEvent,
    NotificationSubscription,
)
from core.times import from_db, now_utc

PENDING_KEY = "yunwang_notifications_pending"  # session.info flag: this transaction emitted (dispatch after commit)


@dataclass(frozen=True)
class Audience:
    """Who an event is for: roles (scoped ones limited to `unit_id`'s line) and/or named principals."""

    roles: frozenset[Role] = frozenset()
    principals: frozenset[str] = frozenset()
    unit_id: int | None = None
    unit_exact: bool = False  # scoped roles of exactly `unit_id` (e.g. the one unit that gives first approval)


@dataclass
class _Scopes:
    """Unit subtrees, looked up once per emit."""

    session: Session
    trees: dict[int, frozenset[int]] = field(default_factory=dict)

    def subtree(self, unit_id: int) -> frozenset[int]:
        if unit_id not in self.trees:
            self.trees[unit_id] = unit_subtree(self.session, unit_id)
        return self.trees[unit_id]


def role_matches(audience: Audience, role: Role, unit_id: int | None, scopes: _Scopes) -> bool:
    """Whether a holder of `role` (of `unit_id`, for scoped roles) is in the audience."""
    if role not in audience.roles:
        return False
    if role not in SCOPED_ROLES:
        return True
    if unit_id is None or audience.unit_id is None:
        return False
    if audience.unit_exact:
        return unit_id == audience.unit_id
    return audience.unit_id in scopes.subtree(unit_id)


def active_identity(session: Session, name: str) -> tuple[Role, int | None] | None:
    """A principal's current role and unit: its enabled sign-in account or its active (unrevoked, unexpired) API
    token; None when neither exists any more."""
    account = session.scalar(select(Account).where(Account.username_key == identity_key(name)))
    if account is not None and not account.disabled:
        return account.role, account.unit_id
    now = now_utc()
    for token in session.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked.is_(False))):
        if token.expires_at is None or from_db(token.expires_at) > now:
            return token.role, token.unit_id
    return None


def matches(session: Session, audience: Audience, sub: NotificationSubscription, scopes: _Scopes) -> bool:
    if sub.owner is None:
        return sub.role is not None and role_matches(audience, sub.role, sub.unit_id, scopes)
    identity = active_identity(session, sub.owner)
    if identity is None:
        return False
    if identity_key(sub.owner) in {identity_key(p) for p in audience.principals}:
        return True
    return role_matches(audience, identity[0], identity[1], scopes)


def emit(
    session: Session,
    event_type: EventType,
    audience: Audience,
    payload: Mapping[str, Any],
    dedup_key: str,
    only: Iterable[int] | None = None,
) -> NotificationEvent | None:
    """Add an event and its deliveries to the caller's transaction; None when `dedup_key` was emitted before.

    `only`: deliver to these subscriptions alone, matched or not (the "send test" action)."""
    if session.scalar(select(NotificationEvent.id).where(NotificationEvent.dedup_key == dedup_key)) is not None:
        return None
    title, body = render(event_type, payload)
    now = now_utc()
    event = NotificationEvent(
        at=now,
        event_type=event_type,
        dedup_key=dedup_key[:200],
        roles=sorted(r.value for r in audience.roles),
        principals=sorted(audience.principals),
        unit_id=audience.unit_id,
        unit_exact=audience.unit_exact,
        title=title,
        body=body,
        payload=dict(payload),
    )
    try:
        with session.begin_nested():  # a concurrent producer committed the same key first: nothing written
            session.add(event)
            session.flush()
    except IntegrityError:
        return None
    query = select(NotificationSubscription).where(NotificationSubscription.enabled.is_(True))
    if only is not None:
        targets = list(session.scalars(query.where(NotificationSubscription.id.in_(list(only)))))
    else:
        scopes = _Scopes(session)
        subs = session.scalars(query.order_by(NotificationSubscription.id))
        targets = [s for s in subs if event_type.value in s.event_types and matches(session, audience, s, scopes)]
    for sub in targets:
        session.add(
            NotificationDelivery(
                event_id=event.id,
                subscription_id=sub.id,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.flush()
    session.info[PENDING_KEY] = True
    return event


def dispatch_after_commit(db: Database, kick: Callable[[], None]) -> None:
    """Call `kick` after each commit of `db`'s write sessions that emitted an event ("dispatch now")."""

    def after_commit(session: Session) -> None:
        if session.info.pop(PENDING_KEY, False):
            kick()

    sa_event.listen(db.sessions, "after_commit", after_commit)
