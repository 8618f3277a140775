"""Reads: filtered/sorted/paginated lists, single objects, as-of-date state and the change log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, Select, String, and_, func, inspect, or_, select
from sqlalchemy.orm import Session, selectinload

from inventory.enums import ChangeAction
from inventory.errors import Problem, ValidationFailed
from inventory.kinds import KINDS, KindSpec
from inventory.models import ChangeLog
from inventory.service import json_value, snapshot

OPS = ("eq", "in", "gte", "lte", "gt", "lt", "isnull", "contains", "ne")
MAX_LIMIT = 1000


@dataclass
class ListQuery:
    """A parsed list request: filters as (field, op, raw text), sort keys, paging and free text."""

    filters: list[tuple[str, str, str]] = field(default_factory=list)
    sort: list[str] = field(default_factory=list)
    limit: int = 50
    offset: int = 0
    q: str | None = None


def parse_list_params(spec: KindSpec, params: dict[str, str]) -> ListQuery:
    """Turn query-string pairs (`status=migrated`, `vcpus__gte=8`, `sort=-name`) into a ListQuery."""
    lq = ListQuery()
    problems: list[Problem] = []
    cols = inspect(spec.model).columns
    for key, raw in params.items():
        if key in ("limit", "offset"):
            try:
                val = int(raw)
                if val < 0 or (key == "limit" and not 1 <= val <= MAX_LIMIT):
                    raise ValueError
                setattr(lq, key, val)
            except ValueError:
                problems.append(Problem(f"{key} must be an integer (limit 1..{MAX_LIMIT})", field=key, value=raw))
        elif key == "sort":
            for part in filter(None, raw.split(",")):
                if part.lstrip("-") not in cols:
                    problems.append(Problem("unknown sort field", field="sort", value=part))
                lq.sort.append(part)
        elif key == "q":
            lq.q = raw
        elif key in ("as_of", "format"):
            continue
        else:
            name, _, op = key.partition("__")
            op = op or "eq"
            if name not in cols or op not in OPS:
                problems.append(
                    Problem(
                        f"unknown filter (fields: {', '.join(cols.keys())}; ops: {', '.join(OPS)})",
                        field=key,
                        value=raw,
                    )
                )
            else:
                lq.filters.append((name, op, raw))
    if problems:
        raise ValidationFailed("invalid list parameters", problems)
    return lq


def _typed(spec: KindSpec, name: str, raw: str) -> Any:
    col = inspect(spec.model).columns[name]
    try:
        typ = col.type.python_type
    except NotImplementedError:
        typ = str
    try:
        return TypeAdapter(typ).validate_strings(raw) if typ is not str else raw
    except ValidationError:
        raise ValidationFailed(
            f"filter {name}: {raw!r} is not a valid {getattr(typ, '__name__', typ)}",
            [Problem("wrong type", field=name, value=raw)],
        ) from None


def _clause(spec: KindSpec, name: str, op: str, raw: str) -> ColumnElement[bool]:
    col: Any = getattr(spec.model, name)
    if op == "isnull":
        return col.is_(None) if raw.lower() in ("1", "true", "yes") else col.is_not(None)
    if op == "in":
        return col.in_([_typed(spec, name, part) for part in raw.split(",")])
    if op == "contains":
        return col.contains(raw) if isinstance(col.type, String) else col == _typed(spec, name, raw)
    value = _typed(spec, name, raw)
    return {
        "eq": col == value,
        "ne": col != value,
        "gte": col >= value,
        "lte": col <= value,
        "gt": col > value,
        "lt": col < value,
    }[op]


def scope_clause(spec: KindSpec, units: frozenset[int] | None) -> ColumnElement[bool] | None:
    """Restrict a kind to the objects owned by a unit subtree (None: no restriction)."""
    if units is None:
        return None
    model: Any = spec.model
    if spec.unit_field:
        return getattr(model, spec.unit_field).in_(units)
    if spec.parent_kind and spec.parent_field:
        parent = KINDS[spec.parent_kind]
        parent_model: Any = parent.model
        owned = select(parent_model.id).where(getattr(parent_model, parent.unit_field or "id").in_(units))
        return getattr(model, spec.parent_field).in_(owned)
    return None


def build_select(spec: KindSpec, lq: ListQuery, units: frozenset[int] | None = None) -> Select[Any]:
    model: Any = spec.model
    stmt = select(model)
    where = [_clause(spec, n, op, raw) for n, op, raw in lq.filters]
    scoped = scope_clause(spec, units)
    if scoped is not None:
        where.append(scoped)
    if lq.q:
        where.append(or_(*[getattr(model, f).contains(lq.q) for f in spec.search_fields]))
    if where:
        stmt = stmt.where(and_(*where))
    return stmt


def list_objects(
    session: Session, spec: KindSpec, lq: ListQuery, units: frozenset[int] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One page of objects as dicts, and the total count, in a fixed number of queries."""
    model: Any = spec.model
    stmt = build_select(spec, lq, units)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    order = [getattr(model, s.lstrip("-")).desc() if s.startswith("-") else getattr(model, s) for s in lq.sort]
    order.append(model.id)
    # Explicit: lazy="selectin" is not applied to the self-referential depends_on (one query per row).
    links = [selectinload(getattr(model, lk.relationship)) for lk in spec.links]
    rows = session.scalars(stmt.options(*links).order_by(*order).limit(lq.limit).offset(lq.offset)).all()
    return [to_out(spec, r) for r in rows], total


def to_out(spec: KindSpec, obj: Any) -> dict[str, Any]:
    """An object as the API shows it: the snapshot plus timestamps."""
    out = snapshot(spec, obj)
    out["created_at"] = json_value(obj.created_at)
    out["updated_at"] = json_value(obj.updated_at)
    return out


def as_of(session: Session, kind: str, at: datetime, ids: list[int] | None = None) -> list[dict[str, Any]]:
    """The state of every object of a kind as it was at `at`, rebuilt from the change log."""
    ranked = select(
        ChangeLog.id,
        func.row_number()
        .over(partition_by=ChangeLog.object_id, order_by=(ChangeLog.at.desc(), ChangeLog.id.desc()))
        .label("rn"),
    ).where(ChangeLog.kind == kind, ChangeLog.at <= at)
    if ids is not None:
        ranked = ranked.where(ChangeLog.object_id.in_(ids))
    sub = ranked.subquery()
    stmt = (
        select(ChangeLog.after)
        .join(sub, sub.c.id == ChangeLog.id)
        .where(sub.c.rn == 1, ChangeLog.action != ChangeAction.DELETE)
        .order_by(ChangeLog.object_id)
    )
    return [dict(a) for a in session.scalars(stmt) if a is not None]


def changes(
    session: Session,
    kind: str | None = None,
    object_id: int | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[ChangeLog], int]:
    """Change-log entries, newest first, filtered by kind/object/actor/time."""
    stmt = select(ChangeLog)
    if kind:
        stmt = stmt.where(ChangeLog.kind == kind)
    if object_id is not None:
        stmt = stmt.where(ChangeLog.object_id == object_id)
    if actor:
        stmt = stmt.where(ChangeLog.actor == actor)
    if since:
        stmt = stmt.where(ChangeLog.at >= since)
    if until:
        stmt = stmt.where(ChangeLog.at <= until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(ChangeLog.at.desc(), ChangeLog.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def ids_by_code(session: Session, kind: str) -> dict[str, int]:
    """code → id for a whole kind (used to resolve references in imports)."""
    model: Any = KINDS[kind].model
    return {code: i for code, i in session.execute(select(model.code, model.id))}


def codes_by_id(session: Session, kind: str) -> dict[int, str]:
    model: Any = KINDS[kind].model
    return {i: code for code, i in session.execute(select(model.code, model.id))}
