"""Reads: filtered/sorted/paginated lists, single objects, as-of-date state and the change log."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    func,
    inspect,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from core import times, validation
from core.audit import json_value
from core.errors import Problem, ValidationFailed
from core.models import ChangeLog
from inventory import history, row_counts
from inventory.kinds import KINDS, KindSpec
from inventory.service import snapshot

OPS = ("eq", "ne", "in", "gt", "gte", "lt", "lte", "contains", "isnull")
MAX_LIMIT = validation.MAX_LIMIT
MAX_IN = 500  # most values in one `field__in=` list

FieldType = Literal["str", "enum", "bool", "int", "float", "date", "datetime", "json"]
_ORDERED = frozenset({"eq", "ne", "in", "gt", "gte", "lt", "lte", "isnull"})
# Which operators each field type answers; any other pair is a 422 naming the allowed ones.
TYPE_OPS: dict[FieldType, frozenset[str]] = {
    "str": _ORDERED | {"contains"},
    "enum": frozenset({"eq", "ne", "in", "contains", "isnull"}),
    "bool": frozenset({"eq", "ne", "in", "isnull"}),
    "int": _ORDERED,
    "float": _ORDERED,
    "date": _ORDERED,
    "datetime": _ORDERED,
    "json": frozenset(),  # JSON null vs SQL NULL differ by store: not filterable
}
TIMESTAMPS = ("created_at", "updated_at")  # live rows only: the change-log snapshots do not carry them
_TRUE = frozenset({"true", "1", "yes", "是"})
_FALSE = frozenset({"false", "0", "no", "否"})
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only: what SQLite's lower() and PostgreSQL's lower(… COLLATE "C") do."""
    return text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class FieldInfo:
    """One filterable/sortable column: its name, type family and (for enums) the enum class."""

    name: str
    kind: FieldType
    enum: type[Enum] | None = None


@cache
def field_infos(kind: str) -> dict[str, FieldInfo]:
    """Every column of a kind with its filter type, from the model (a new column is filterable at once)."""
    out: dict[str, FieldInfo] = {}
    for col in inspect(KINDS[kind].model).columns:
        typ = col.type
        if isinstance(typ, SAEnum) and typ.enum_class is not None:
            out[col.name] = FieldInfo(col.name, "enum", typ.enum_class)
        elif isinstance(typ, Boolean):
            out[col.name] = FieldInfo(col.name, "bool")
        elif isinstance(typ, DateTime):
            out[col.name] = FieldInfo(col.name, "datetime")
        elif isinstance(typ, Date):
            out[col.name] = FieldInfo(col.name, "date")
        elif isinstance(typ, Integer):
            out[col.name] = FieldInfo(col.name, "int")
        elif isinstance(typ, Float):
            out[col.name] = FieldInfo(col.name, "float")
        elif isinstance(typ, String):
            out[col.name] = FieldInfo(col.name, "str")
        else:
            out[col.name] = FieldInfo(col.name, "json")
    return out


@dataclass
class ListQuery:
    """A parsed list request: filters as (field, op, typed value), sort keys, paging and free text."""

    filters: list[tuple[str, str, Any]] = field(default_factory=list)
    sort: list[str] = field(default_factory=list)
    limit: int = 50
    offset: int = 0
    q: str | None = None
    as_of: datetime | None = None


def parse_list_params(spec: KindSpec, params: Mapping[str, str], as_of: datetime | None = None) -> ListQuery:
    """Turn query-string pairs (`status=migrated`, `vcpus__gte=8`, `sort=-name`) into a typed ListQuery.

    Every value is parsed for its field's type here, so a bad operator or value is a 422 naming the
    parameter, never a database error. With `as_of`, the creation/update timestamps are not available.
    """
    lq = ListQuery(as_of=as_of)
    problems: list[Problem] = []
    infos = field_infos(spec.name)
    for key, raw in params.items():
        if key in ("limit", "offset"):
            low, high = (1, MAX_LIMIT) if key == "limit" else (0, validation.INT32_MAX)
            val = _int(raw)
            if val is None or not low <= val <= high:
                problems.append(Problem(f"{key}: expected an integer {low}..{high} / 应为整数", field=key, value=raw))
            else:
                setattr(lq, key, val)
        elif key == "sort":
            for part in filter(None, raw.split(",")):
                name = part.lstrip("-")
                if name not in infos or infos[name].kind == "json":
                    problems.append(
                        Problem(f"unknown sort field (fields: {', '.join(infos)})", field="sort", value=part)
                    )
                elif as_of is not None and (name in TIMESTAMPS or name in spec.observed):
                    problems.append(Problem("not available with as_of / 历史口径下不可用", field="sort", value=part))
                else:
                    lq.sort.append(part)
        elif key == "q":
            lq.q = raw
        elif key in ("as_of", "format"):
            continue
        else:
            name, _, op = key.partition("__")
            op = op or "eq"
            info = infos.get(name)
            if info is None or op not in OPS:
                problems.append(
                    Problem(f"unknown filter (fields: {', '.join(infos)}; ops: {', '.join(OPS)})", field=key, value=raw)
                )
            elif op not in TYPE_OPS[info.kind]:
                allowed = ", ".join(o for o in OPS if o in TYPE_OPS[info.kind]) or "none"
                problems.append(Problem(f"{info.kind} field {name}: operators {allowed}", field=key, value=raw))
            elif as_of is not None and (name in TIMESTAMPS or name in spec.observed):
                problems.append(Problem("not available with as_of / 历史口径下不可用", field=key, value=raw))
            else:
                try:
                    lq.filters.append((name, op, _filter_value(info, op, raw)))
                except ValueError as exc:
                    problems.append(Problem(str(exc), field=key, value=raw))
    if problems:
        raise ValidationFailed("invalid list parameters / 列表参数无效", problems)
    return lq


def _int(raw: str) -> int | None:
    text = raw.strip()
    return int(text) if text.lstrip("+-").isdigit() and text.isascii() and len(text) <= 20 else None


def _filter_value(info: FieldInfo, op: str, raw: str) -> Any:
    """The typed value of one filter; ValueError with a message for the user when it does not fit."""
    if op == "isnull":
        return _bool(raw)
    if op == "in":
        parts = raw.split(",")
        if len(parts) > MAX_IN:
            raise ValueError(f"at most {MAX_IN} values / 最多{MAX_IN}个值")
        return tuple(_scalar(info, part) for part in parts)
    if op == "contains":
        return raw
    return _scalar(info, raw)


def _bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected true/false (是/否, 1/0, yes/no) / 应为是或否")


def _scalar(info: FieldInfo, raw: str) -> Any:
    text = raw.strip()
    match info.kind:
        case "bool":
            return _bool(text)
        case "int":
            val = _int(text)
            if val is None:
                raise ValueError("expected an integer / 应为整数")
            if not validation.INT32_MIN <= val <= validation.INT32_MAX:
                raise ValueError("integer outside the database range / 整数超出范围")
            return val
        case "float":
            try:
                num = float(text)
            except ValueError:
                raise ValueError("expected a number / 应为数字") from None
            if not math.isfinite(num):
                raise ValueError("expected a finite number (not NaN/Infinity) / 应为有限数值")
            return num
        case "date":
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise ValueError("expected a date like 2024-01-31 / 应为日期") from None
        case "datetime":
            try:
                return times.parse(text)
            except ValueError:
                raise ValueError("expected a time like 2024-01-31T09:30:00+08:00 (no offset: Beijing time)") from None
        case "enum":
            assert info.enum is not None
            values = [str(m.value) for m in info.enum]
            if text not in values:
                raise ValueError(f"expected one of: {', '.join(values)} / 应为以下值之一")
            return text
        case _:
            return raw


# --- SQL (live tables) ----------------------------------------------------------------------


def _collated(col: ColumnElement[Any], info: FieldInfo, dialect: str) -> ColumnElement[Any]:
    """Strings compare and sort by code point on both stores (PostgreSQL's own collation may differ)."""
    return col.collate("C") if dialect == "postgresql" and info.kind in ("str", "enum") else col


def _substring(col: Any, needle: str, dialect: str) -> ColumnElement[bool]:
    """ASCII-case-insensitive substring test, with no LIKE wildcards, identical on SQLite and PostgreSQL."""
    if dialect == "postgresql":
        return func.strpos(func.lower(col.collate("C")), ascii_lower(needle)) > 0
    return func.instr(func.lower(col), ascii_lower(needle)) > 0


def _clause(spec: KindSpec, name: str, op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    info = field_infos(spec.name)[name]
    col: ColumnElement[Any] = getattr(spec.model, name)
    if op == "isnull":
        return col.is_(None) if value else col.is_not(None)
    if op == "contains":
        return _substring(col, value, dialect)
    if info.kind == "bool":
        # Booleans answer eq/ne/in only; `col = false` (not `IS`) so NULL never matches, as in Python.
        values = value if op == "in" else (value,)
        matched = or_(*[col == v for v in values])
        return col.is_not(None) & (~matched if op == "ne" else matched)
    ccol = _collated(col, info, dialect)
    if op == "in":
        return ccol.in_(list(value))
    compare: ColumnElement[bool] = _COMPARE[op](ccol, value)
    return compare


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def scope_clause(spec: KindSpec, units: frozenset[int] | None) -> ColumnElement[bool] | None:
    """Restrict a kind to the objects owned by a unit subtree (None: no restriction)."""
    if units is None:
        return None
    model: Any = spec.model
    if spec.unit_field:
        owner: ColumnElement[Any] = getattr(model, spec.unit_field)
        return owner.in_(units)
    if spec.parent_kind and spec.parent_field:
        parent = KINDS[spec.parent_kind]
        parent_model: Any = parent.model
        owned = select(parent_model.id).where(getattr(parent_model, parent.unit_field or "id").in_(units))
        parent_col: ColumnElement[Any] = getattr(model, spec.parent_field)
        return parent_col.in_(owned)
    return None


def build_select(
    spec: KindSpec, lq: ListQuery, units: frozenset[int] | None = None, dialect: str = "sqlite"
) -> Select[Any]:
    model: Any = spec.model
    stmt = select(model)
    where = [_clause(spec, n, op, value, dialect) for n, op, value in lq.filters]
    scoped = scope_clause(spec, units)
    if scoped is not None:
        where.append(scoped)
    if lq.q:
        where.append(or_(*[_substring(getattr(model, f), lq.q, dialect) for f in spec.search_fields]))
    if where:
        stmt = stmt.where(and_(*where))
    return stmt


def _order(spec: KindSpec, lq: ListQuery, dialect: str) -> list[Any]:
    """Sort keys: NULLs last in either direction, then the id (a stable order for paging)."""
    model: Any = spec.model
    infos = field_infos(spec.name)
    order: list[Any] = []
    for key in lq.sort:
        name = key.lstrip("-")
        col = _collated(getattr(model, name), infos[name], dialect)
        order.append(col.desc().nulls_last() if key.startswith("-") else col.asc().nulls_last())
    order.append(model.id)
    return order


def list_objects(
    session: Session, spec: KindSpec, lq: ListQuery, units: frozenset[int] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One page of objects as dicts, and the total count, in a fixed number of queries (or as of `lq.as_of`)."""
    if lq.as_of is not None:
        return _list_as_of(session, spec, lq, units)
    dialect = session.get_bind().dialect.name
    stmt = build_select(spec, lq, units, dialect)
    counted = (
        None if lq.filters or lq.q or units is not None else row_counts.table_count(session, spec.model.__tablename__)
    )
    total = counted if counted is not None else _count(session, stmt)
    if not total or lq.offset >= total:
        return [], total
    # Plain rows, not ORM objects: a page needs no identity map and no related objects, only the link ids.
    columns = _out_columns(spec.name)
    page = stmt.with_only_columns(*(c for _, c in columns)).order_by(*_order(spec, lq, dialect))
    # Core execution: plain column rows need none of the ORM's loading machinery.
    rows = session.connection().execute(page.limit(lq.limit).offset(lq.offset)).all()
    links = link_ids(session, spec, [r[0] for r in rows])
    keys = [key for key, _ in columns]
    converters = _converters(spec.name)  # only enum/date/time columns change on their way to JSON
    out: list[dict[str, Any]] = []
    for row in rows:
        values = list(row)
        for i, convert in converters:
            if values[i] is not None:
                values[i] = convert(values[i])
        item = dict(zip(keys, values, strict=True))
        for lk in spec.links:
            item[lk.field] = sorted(links[lk.field].get(item["id"], ()))
        out.append(item)
    return out, total


def _count(session: Session, stmt: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


@cache
def _out_columns(kind: str) -> list[tuple[str, Any]]:
    """(attribute key, column) of every column `to_out` shows, the id first."""
    attrs = inspect(KINDS[kind].model).column_attrs
    cols = [(a.key, a.columns[0]) for a in attrs]
    return sorted(cols, key=lambda kc: kc[0] != "id")


@cache
def _converters(kind: str) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """(position in `_out_columns`, its JSON form) of the columns `json_value` changes: enums by value, times with
    their offset, dates ISO; numbers, text and booleans pass as read. The same values as `json_value`, without
    testing every cell's type."""
    out: list[tuple[int, Callable[[Any], Any]]] = []
    for i, (_, col) in enumerate(_out_columns(kind)):
        if isinstance(col.type, SAEnum):
            out.append((i, operator.attrgetter("value")))
        elif isinstance(col.type, DateTime):
            out.append((i, times.iso))
        elif isinstance(col.type, Date):
            out.append((i, date.isoformat))
        elif not isinstance(col.type, (Integer, Float, String, Boolean)):
            out.append((i, json_value))
    return tuple(out)


@cache
def _links_select(kind: str, dialect: str) -> Any:
    """The association rows of a page's objects: (link number, owner id, target id), one statement per kind.

    Built once; the page's ids are bound at each execution: on PostgreSQL as one array (`owner = ANY(:ids)`: a
    short statement whose text the driver converts once and prepares), elsewhere as an expanding `IN` list."""
    spec = KINDS[kind]
    int_array: Any = ARRAY(Integer)
    ids: BindParameter[list[int]] = (
        bindparam("ids", type_=int_array) if dialect == "postgresql" else bindparam("ids", expanding=True)
    )
    parts = []
    for n, lk in enumerate(spec.links):
        rel = inspect(spec.model).relationships[lk.relationship]
        assert rel.secondary_synchronize_pairs, f"{lk.relationship} is not a many-to-many link"
        (_, owner), (_, target) = rel.synchronize_pairs[0], rel.secondary_synchronize_pairs[0]
        where = owner == any_(ids) if dialect == "postgresql" else owner.in_(ids)
        parts.append(select(literal(n).label("link"), owner.label("owner"), target.label("target")).where(where))
    return union_all(*parts)


def link_ids(session: Session, spec: KindSpec, ids: list[int]) -> dict[str, dict[int, list[int]]]:
    """Per link field, each object's linked ids (unsorted), read from the association tables in one query."""
    out: dict[str, dict[int, list[int]]] = {lk.field: {} for lk in spec.links}
    if not ids or not spec.links:
        return out
    fields = [lk.field for lk in spec.links]
    stmt = _links_select(spec.name, session.get_bind().dialect.name)
    for link, owner_id, target_id in session.execute(stmt, {"ids": ids}):
        out[fields[link]].setdefault(owner_id, []).append(target_id)
    return out


# --- Python (as of a date, from change-log snapshots) ---------------------------------------


def _snapshot_value(info: FieldInfo, v: Any) -> Any:
    """A snapshot's JSON value as the typed value the filters compare with."""
    if v is None:
        return None
    if info.kind == "datetime":
        return times.from_db(datetime.fromisoformat(v))
    if info.kind == "date":
        return date.fromisoformat(v)
    return v


def matches(info: FieldInfo, op: str, value: Any, v: Any) -> bool:
    """One filter on one typed value, with the SQL semantics (a comparison never matches NULL)."""
    if op == "isnull":
        return (v is None) == bool(value)
    if v is None:
        return False
    if op == "contains":
        return ascii_lower(value) in ascii_lower(str(v))
    if op == "in":
        return bool(v in value)
    return bool(_COMPARE[op](v, value))


def _list_as_of(
    session: Session, spec: KindSpec, lq: ListQuery, units: frozenset[int] | None
) -> tuple[list[dict[str, Any]], int]:
    assert lq.as_of is not None
    infos = field_infos(spec.name)
    rows = as_of(session, spec.name, lq.as_of)
    if units is not None:
        from inventory.access import owner_unit

        rows = [r for r in rows if (owner := owner_unit(session, spec, r)) is False or owner in units]
    typed = [(r, {n: _snapshot_value(i, r.get(n)) for n, i in infos.items()}) for r in rows]
    for name, op, value in lq.filters:
        typed = [(r, t) for r, t in typed if matches(infos[name], op, value, t[name])]
    if lq.q:
        needle = ascii_lower(lq.q)
        typed = [
            (r, t) for r, t in typed if any(needle in ascii_lower(str(t.get(f) or "")) for f in spec.search_fields)
        ]
    typed.sort(key=lambda rt: rt[1]["id"])
    for key in reversed(lq.sort):  # stable sorts, last key first
        name = key.lstrip("-")
        present = [rt for rt in typed if rt[1][name] is not None]
        missing = [rt for rt in typed if rt[1][name] is None]
        present.sort(key=lambda rt: rt[1][name], reverse=key.startswith("-"))
        typed = present + missing
    page = typed[lq.offset : lq.offset + lq.limit]
    return [r for r, _ in page], len(typed)


def to_out(spec: KindSpec, obj: Any) -> dict[str, Any]:
    """An object as the API shows it: the snapshot plus timestamps."""
    out = snapshot(spec, obj)
    for name in spec.observed:
        out[name] = json_value(getattr(obj, name))
    out["created_at"] = json_value(obj.created_at)
    out["updated_at"] = json_value(obj.updated_at)
    return out


def as_of(session: Session, kind: str, at: datetime, ids: list[int] | None = None) -> list[dict[str, Any]]:
    """The state of every object of a kind as it was at `at`, rebuilt from the change log."""
    latest = history.state_entries(kind, times.to_utc(at), ids)  # SQLite compares the stored UTC text: bind UTC
    stmt = select(ChangeLog.after).join(latest, latest.c.log_id == ChangeLog.id).order_by(ChangeLog.object_id)
    observed = KINDS[kind].observed  # entries written before these were left out of the log may still hold them
    return [{k: v for k, v in a.items() if k not in observed} for a in session.scalars(stmt) if a is not None]


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
        stmt = stmt.where(ChangeLog.at >= times.to_utc(since))
    if until:
        stmt = stmt.where(ChangeLog.at <= times.to_utc(until))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(ChangeLog.at.desc(), ChangeLog.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def codes_by_id(session: Session, kind: str) -> dict[int, str]:
    model: Any = KINDS[kind].model
    return {i: code for code, i in session.execute(select(model.code, model.id))}
