"""History before the first import: change-log entries back-dated from the date a status took effect.

An inventory loaded today describes objects with years behind them. When a new object carries the date its
status took effect (`status_changed_at`, `state_since`, `docked_at`, `connected_on`) and that date is in the
past, its creation is logged at that date, so rates as of an earlier date see it as it was:

- With `since` (the date from which the loaded objects are on record, e.g. the import's `history_since`), an
  object whose status is not its initial one is logged as created at `since` in its initial status
  (未迁移 / 未启动 / 未对接 / 计划接入) and changed to its status at the status date; an object in its initial
  status, or without a status date, is logged as created at `since`.
- Without `since`, the object is logged as created at its status date (on record from then).

Every back-dated entry says so in its message, with the moment it was really recorded and by whom (the
entry's actor). Only live writes are back-dated: a caller that sets `ChangeContext.at` keeps its own time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Subquery

from core.enums import ChangeAction
from core.models import ChangeLog
from core.times import BEIJING
from inventory.kinds import KINDS


@dataclass(frozen=True)
class Effective:
    """Which field holds a kind's status, which one the date it took effect, and the status it starts in."""

    status: str
    stamp: str
    initial: str


EFFECTIVE: dict[str, Effective] = {
    "systems": Effective("status", "status_changed_at", "not_migrated"),
    "networks": Effective("status", "status_changed_at", "not_started"),
    "service_items": Effective("docking_status", "docked_at", "not_docked"),
    "node_access": Effective("status", "connected_on", "planned"),
    "extranet_nodes": Effective("state", "state_since", "unknown"),
    "rooms": Effective("status", "status_changed_at", "active"),
    "internet_exits": Effective("status", "status_changed_at", "active"),
}


@dataclass(frozen=True)
class Entry:
    """One change-log entry to write for a new object."""

    at: datetime
    action: ChangeAction
    before: dict[str, Any] | None
    after: dict[str, Any]
    note: str | None = None


def moment(value: Any) -> datetime | None:
    """A JSON snapshot value (ISO date-time, or a date = Beijing midnight) as an aware UTC time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), BEIJING).astimezone(UTC)
    text = str(value)
    if "T" not in text and len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), BEIJING).astimezone(UTC)
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def effective_at(kind: str, after: dict[str, Any]) -> datetime | None:
    """When the object's status took effect, as the data says (None when it does not say)."""
    eff = EFFECTIVE.get(kind)
    return moment(after.get(eff.stamp)) if eff is not None and eff.stamp in after else None


def _note(field: str, now: datetime) -> str:
    shown = now.astimezone(BEIJING).isoformat(timespec="seconds")
    return f"补录历史：按 {field} 回溯，实际录入于 {shown} / history back-dated from {field}, recorded {shown}"


def creation_entries(kind: str, after: dict[str, Any], now: datetime, since: datetime | None) -> list[Entry]:
    """The change-log entries of a new object written at `now` (one, or two when its history starts earlier)."""
    eff_spec = EFFECTIVE.get(kind)
    eff = effective_at(kind, after)
    base = since if since is not None and since < now else None
    if eff is not None and eff >= now:
        eff = None
    if eff_spec is None or eff is None:
        if base is None:
            return [Entry(now, ChangeAction.CREATE, None, after)]
        return [Entry(base, ChangeAction.CREATE, None, after, _note("history_since", now))]
    note = _note(eff_spec.stamp, now)
    if base is not None and base < eff and after.get(eff_spec.status) != eff_spec.initial:
        prior = {**after, eff_spec.status: eff_spec.initial, eff_spec.stamp: None}
        return [
            Entry(base, ChangeAction.CREATE, None, prior, note),
            Entry(eff, ChangeAction.UPDATE, prior, after, note),
        ]
    return [Entry(min(eff, base) if base is not None else eff, ChangeAction.CREATE, None, after, note)]


def records_since(session: Session) -> dict[str, datetime]:
    """How far back the history is backed by records: the earliest change-log time of each kind (UTC)."""
    rows = session.execute(select(ChangeLog.kind, func.min(ChangeLog.at)).group_by(ChangeLog.kind)).all()
    return {kind: moment(at) or at for kind, at in sorted(rows) if at is not None}


def records_note(session: Session) -> tuple[str, str]:
    """A report note (Chinese, English) saying from when each kind's figures are backed by change-log records."""
    since = records_since(session)
    if not since:
        return ("变更日志为空：历史数值没有记录支撑。", "The change log is empty: no figure is backed by records.")

    def day(at: datetime) -> str:
        return at.astimezone(BEIJING).date().isoformat()

    shown = [(KINDS[k].zh if k in KINDS else k, k, day(at)) for k, at in since.items()]
    first, full = min(since.values()), max(since.values())
    return (
        f"历史数值的记录支撑：变更日志最早记录于 {day(first)}，各类对象均有记录自 {day(full)}"
        f"（{'；'.join(f'{zh} {d}' for zh, _, d in shown)}）；早于该时间的数值没有记录支撑。",
        f"History is backed by change-log records since {day(first)}, for every kind since {day(full)} "
        f"({'; '.join(f'{k} {d}' for _, k, d in shown)}); figures before that are not backed by records.",
    )


def state_entries(kind: str, at: datetime, ids: Sequence[int] | None = None, name: str | None = None) -> Subquery:
    """The as-of query: (log_id) of the change-log entry that holds each object's state at `at` — its latest
    entry written at or before `at` (the higher id on a tie) — leaving out objects whose latest entry is a delete.
    Join `ChangeLog.id == log_id` and read `ChangeLog.after`. `at` is compared as given (pass UTC)."""
    ranked = select(
        ChangeLog.id.label("log_id"),
        ChangeLog.action.label("action"),
        func.row_number()
        .over(partition_by=ChangeLog.object_id, order_by=(ChangeLog.at.desc(), ChangeLog.id.desc()))
        .label("rn"),
    ).where(ChangeLog.kind == kind, ChangeLog.at <= at)
    if ids is not None:
        ranked = ranked.where(ChangeLog.object_id.in_(ids))
    inner = ranked.subquery(f"{name}_ranked" if name else None)
    latest = select(inner.c.log_id).where(inner.c.rn == 1, inner.c.action != ChangeAction.DELETE)
    return latest.subquery(name)
