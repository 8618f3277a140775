"""The audit log API: who changes what, when and why; every package records changes and decisions here.

`ChangeContext` travels with every write (actor, role, request id, message, optional guard); `record_change`
appends one `ChangeLog` row. Snapshots are JSON (`json_value` for column values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from core import times, validation
from core.enums import ChangeAction
from core.errors import ValidationFailed
from core.models import ChangeLog
from core.times import now_utc

# Called with (session, kind spec, before, after) snapshots before anything is written; raises Forbidden.
Guard = Callable[[Session, Any, dict[str, Any] | None, dict[str, Any] | None], None]


@dataclass(frozen=True)
class ChangeContext:
    """Who is changing the inventory, why, and (for back-dated loads) when."""

    actor: str
    role: str | None = None
    message: str | None = None
    request_id: str | None = None
    at: datetime | None = None
    guard: Guard | None = None
    history_since: datetime | None = None  # new objects are on record since then (see inventory.history)

    def when(self) -> datetime:
        return times.to_utc(self.at) if self.at else now_utc()  # aware UTC (naive = Beijing time)


def json_value(v: Any) -> Any:
    """A JSON-safe form of a column value (enums by value, dates ISO)."""
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, datetime):
        return times.iso(v)
    if isinstance(v, date):
        return v.isoformat()
    return v


def record_change(
    session: Session,
    ctx: ChangeContext,
    kind: str,
    object_id: int,
    action: ChangeAction,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    object_code: str | None = None,
    message: str | None = None,
) -> ChangeLog:
    """Append one audit entry; every package records its changes and decisions through this.

    A snapshot that could not be read back (NaN, a lone surrogate, …) is refused here, so no package can
    store a change that breaks as-of queries later.
    """
    problems = validation.check_json(before, "before") + validation.check_json(after, "after")
    if problems:
        raise ValidationFailed(f"{kind} {object_id}: the change cannot be recorded / 变更无法记录", problems)
    entry = ChangeLog(
        at=times.to_utc(ctx.when()),
        actor=ctx.actor,
        actor_role=ctx.role,
        kind=kind,
        object_id=object_id,
        object_code=object_code,
        action=action,
        before=before,
        after=after,
        message=message or ctx.message,
        request_id=ctx.request_id,
    )
    session.add(entry)
    return entry
