"""The only writer of inventory tables: validation, domain rules, references and the change log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.orm import Session

from core import pydantic_text, times
from core.audit import ChangeContext, json_value, record_change
from core.db import Base
from core.enums import ChangeAction
from core.errors import Conflict, Forbidden, NotFound, Problem, RuleViolation, ValidationFailed
from core.models import ChangeLog
from inventory import addresses, history, rules
from inventory.kinds import KINDS, KindSpec
from inventory.models import Determination
from inventory.schemas import create_schema, update_schema


def creation_log(ctx: ChangeContext, kind: str, after: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    """The change-log rows for a new object: at `at`, or back-dated from its status date (inventory.history)."""
    entries = (
        history.creation_entries(kind, after, at, ctx.history_since)
        if ctx.at is None
        else [history.Entry(at, ChangeAction.CREATE, None, after)]
    )
    return [
        {
            "at": e.at,
            "actor": ctx.actor,
            "actor_role": ctx.role,
            "kind": kind,
            "object_id": after["id"],
            "object_code": after.get("code"),
            "action": e.action,
            "before": e.before,
            "after": e.after,
            "message": " · ".join(m for m in (ctx.message, e.note) if m) or None,
            "request_id": ctx.request_id,
        }
        for e in entries
    ]


def snapshot(spec: KindSpec, obj: Base) -> dict[str, Any]:
    """The object's recorded state as one JSON dict (what the change log keeps): every column but the timestamps
    and the observed ones (`KindSpec.observed`), plus link id lists (sorted)."""
    # Timestamps are skipped before reading: after a flush they are expired, and reading one reloads the row.
    data = {
        c.key: json_value(getattr(obj, c.key))
        for c in inspect(type(obj)).column_attrs
        if c.key not in ("created_at", "updated_at") and c.key not in spec.observed
    }
    for link in spec.links:
        data[link.field] = sorted(o.id for o in getattr(obj, link.relationship))
    return data


def _validate(spec: KindSpec, data: Mapping[str, Any], partial: bool, row: int | None) -> dict[str, Any]:
    schema = update_schema(spec.name) if partial else create_schema(spec.name)
    try:
        model = schema.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            Problem(
                message=pydantic_text.message(err),  # Chinese first, English beside
                field=".".join(str(p) for p in err["loc"]) or None,
                row=row,
                value=rules.short(err.get("input")),
            )
            for err in exc.errors()
        ]
        raise ValidationFailed(f"invalid {spec.name} data", problems) from None
    clean = model.model_dump(exclude_unset=True)
    if bad := addresses.problems(spec.name, clean, row):  # probe addresses and ports of nodes and devices
        raise ValidationFailed(f"invalid {spec.name} data", bad)
    return clean


def get_or_404(session: Session, spec: KindSpec, obj_id: int) -> Base:
    obj = session.get(spec.model, obj_id)
    if obj is None:
        raise NotFound(f"{spec.name} {obj_id} not found", [Problem("no such id", field="id", value=obj_id)])
    return obj


def _check_refs(session: Session, spec: KindSpec, data: dict[str, Any], row: int | None) -> None:
    problems: list[Problem] = []
    for col in spec.columns:
        if col.ref and data.get(col.field) is not None and session.get(KINDS[col.ref].model, data[col.field]) is None:
            problems.append(Problem(f"unknown {col.ref} id", field=col.field, row=row, value=data[col.field]))
    for link in spec.links:
        for target in data.get(link.field) or []:
            if session.get(KINDS[link.ref].model, target) is None:
                problems.append(Problem(f"unknown {link.ref} id", field=link.field, row=row, value=target))
    if problems:
        raise ValidationFailed(f"{spec.name}: unknown references", problems)


def _check_code_unique(session: Session, spec: KindSpec, code: str, own_id: int | None, row: int | None) -> None:
    model: Any = spec.model
    existing = session.scalar(select(model.id).where(model.code == code))
    if existing is not None and existing != own_id:
        raise Conflict(
            f"{spec.name} code {code!r} already exists",
            [Problem("duplicate code", field="code", row=row, value=code)],
        )


def check_rules(
    session: Session,
    spec: KindSpec,
    state: dict[str, Any],
    row: int | None = None,
    before: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """The kind's domain rules (its spec's `rules`, inventory.rules) over the object's would-be state
    (`before`: its snapshot, for updates); what is broken."""
    return rules.run(rules.Check(session, spec, state, row, before, KINDS), spec.rules)


def rule_problems(
    session: Session, kind: str, data: Mapping[str, Any], obj_id: int | None = None, row: int | None = None
) -> list[Problem]:
    """The domain rules the given (partial, possibly incomplete) data would break; nothing is written.

    Used by the import dry run to report rule violations of rows that also have unreadable cells; fields
    that do not validate are left out rather than reported here.
    """
    spec = KINDS[kind]
    try:
        clean = _validate(spec, data, partial=True, row=row)
    except ValidationFailed as exc:
        bad = {p.field for p in exc.problems}
        clean = _validate(spec, {k: v for k, v in data.items() if k not in bad}, partial=True, row=row)
    before = snapshot(spec, get_or_404(session, spec, obj_id)) if obj_id is not None else None
    return check_rules(session, spec, _state(spec, before, clean, obj_id), row, before)


def _stamp_status(spec: KindSpec, before: dict[str, Any] | None, data: dict[str, Any], at: datetime) -> None:
    for status_field, stamp in (("status", "status_changed_at"), ("state", "state_since")):
        if stamp not in spec.fields or status_field not in data or stamp in data:
            continue
        old = before.get(status_field) if before else None
        if old != json_value(data[status_field]):
            data[stamp] = at


def _apply(session: Session, spec: KindSpec, obj: Base, data: dict[str, Any]) -> None:
    for key, value in data.items():
        link = next((lk for lk in spec.links if lk.field == key), None)
        if link is None:
            setattr(obj, key, value)
        else:
            target: Any = KINDS[link.ref].model
            targets = session.scalars(select(target).where(target.id.in_(value or []))).all() if value else []
            setattr(obj, link.relationship, list(targets))


def _state(spec: KindSpec, before: dict[str, Any] | None, data: dict[str, Any], own_id: int | None) -> dict[str, Any]:
    """Would-be state with typed values, for rules (defaults filled from the schema)."""
    state: dict[str, Any] = {}
    if before:
        state.update(
            update_schema(spec.name)
            .model_validate({k: v for k, v in before.items() if k in update_schema(spec.name).model_fields})
            .model_dump(exclude_unset=True)
        )
    else:
        for name, col in inspect(spec.model).columns.items():
            if col.default is not None and getattr(col.default, "is_scalar", False):
                state[name] = col.default.arg  # type: ignore[attr-defined]
    state.update(data)
    state["id"] = own_id
    return state


def update(
    session: Session, kind: str, obj_id: int, data: Mapping[str, Any], ctx: ChangeContext, row: int | None = None
) -> Base:
    """Patch the fields given; no change-log entry when nothing actually changed."""
    spec = KINDS[kind]
    obj = get_or_404(session, spec, obj_id)
    clean = _validate(spec, data, partial=True, row=row)
    before = snapshot(spec, obj)
    for required in ("code", "name"):
        if required in clean and clean[required] is None:
            raise ValidationFailed(
                f"{kind}: {required} cannot be empty", [Problem("required", field=required, row=row)]
            )
    if "code" in clean:
        _check_code_unique(session, spec, clean["code"], obj_id, row)
    _check_refs(session, spec, clean, row)
    problems = check_rules(session, spec, _state(spec, before, clean, obj_id), row, before)
    if problems:
        raise RuleViolation(f"{kind}: domain rule violated", problems)
    _stamp_status(spec, before, clean, ctx.when())
    if ctx.guard:
        ctx.guard(session, spec, before, {**before, **{k: json_value(v) for k, v in clean.items()}})
    _apply(session, spec, obj, clean)
    session.flush()
    after = snapshot(spec, obj)
    if after != before:
        record_change(session, ctx, kind, obj_id, ChangeAction.UPDATE, before, after, after.get("code"))
    return obj


_BATCH_SKIP = ("id", "created_at", "updated_at")


def create(session: Session, kind: str, data: Mapping[str, Any], ctx: ChangeContext, row: int | None = None) -> Base:
    """Validate, check references and rules, insert, and log the creation (create_many's path for one row; its
    problems carry `row` and are raised as the single-object errors)."""
    spec = KINDS[kind]
    (obj_id,) = _create(session, spec, [data], ctx, [row], single=True)
    return get_or_404(session, spec, obj_id)


def create_many(session: Session, kind: str, rows: list[dict[str, Any]], ctx: ChangeContext) -> list[int]:
    """Create many objects of one kind with create()'s validation, rules, guard and change log, in bulk.

    Rows may reference existing objects only (not each other). Every problem found is collected, with
    row = index in `rows`, and raised together (ValidationFailed, else Conflict, else RuleViolation);
    nothing is written then. Returns the new ids in row order.
    """
    return _create(session, KINDS[kind], rows, ctx, list(range(len(rows))), single=False)


def _existing_ids(session: Session, kind: str, ids: set[int]) -> set[int]:
    model: Any = KINDS[kind].model
    found: set[int] = set()
    wanted = sorted(ids)
    for part in rules.chunks(wanted):
        found.update(session.scalars(select(model.id).where(model.id.in_(part))))
    return found


def _code_problems(
    session: Session, spec: KindSpec, cleans: list[dict[str, Any] | None], labels: Sequence[int | None]
) -> list[Problem]:
    """Codes already taken or repeated in the batch."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, clean in enumerate(cleans):
        if clean is None:
            continue
        code = clean["code"]
        if code in first:
            problems.append(
                Problem(f"duplicate code (also row {first[code]})", field="code", row=labels[i], value=code)
            )
        else:
            first[code] = i
    model: Any = spec.model
    for part in rules.chunks(list(first)):
        for code in session.scalars(select(model.code).where(model.code.in_(part))):
            problems.append(Problem("duplicate code", field="code", row=labels[first[code]], value=code))
    return problems


def _ref_problems(
    session: Session, spec: KindSpec, cleans: list[dict[str, Any] | None], labels: Sequence[int | None]
) -> list[Problem]:
    """References to ids that do not exist (looked up once per referenced kind)."""
    problems: list[Problem] = []
    wanted: dict[str, set[int]] = {}
    for clean in cleans:
        if clean is None:
            continue
        for col in spec.columns:
            if col.ref and clean.get(col.field) is not None:
                wanted.setdefault(col.ref, set()).add(clean[col.field])
        for link in spec.links:
            wanted.setdefault(link.ref, set()).update(clean.get(link.field) or [])
    known = {ref: _existing_ids(session, ref, ids) for ref, ids in wanted.items()}
    for i, clean in enumerate(cleans):
        if clean is None:
            continue
        for col in spec.columns:
            value = clean.get(col.field)
            if col.ref and value is not None and value not in known[col.ref]:
                problems.append(Problem(f"unknown {col.ref} id", field=col.field, row=labels[i], value=value))
        for link in spec.links:
            for target in clean.get(link.field) or []:
                if target not in known[link.ref]:
                    problems.append(Problem(f"unknown {link.ref} id", field=link.field, row=labels[i], value=target))
    return problems


def _create(  # noqa: C901 - validation → references → rules → guard → insert → log, for one or many rows
    session: Session,
    spec: KindSpec,
    rows: Sequence[Mapping[str, Any]],
    ctx: ChangeContext,
    labels: Sequence[int | None],
    single: bool,
) -> list[int]:
    """The one create path: validation → references and codes → domain rules → guard → insert → change log.

    `labels` are the rows' numbers in problems; `single` raises a lone object's errors as create() always has
    (the first failing step only, with its own message) instead of the batch summary."""
    kind = spec.name
    if not rows:
        return []
    table: Any = spec.model.__table__
    cols = [c for c in table.columns if c.name not in _BATCH_SKIP]
    defaults = {c.name: c.default.arg for c in cols if c.default is not None and getattr(c.default, "is_scalar", False)}
    invalid: list[Problem] = []
    cleans: list[dict[str, Any] | None] = []
    for i, data in enumerate(rows):
        try:
            clean = _validate(spec, data, partial=False, row=labels[i])
        except ValidationFailed as exc:
            if single:
                raise
            invalid += exc.problems
            cleans.append(None)
            continue
        empty = [c.name for c in cols if not c.nullable and c.name in clean and clean[c.name] is None]
        invalid += [Problem("cannot be empty", field=name, row=labels[i]) for name in empty]
        cleans.append(None if empty else clean)
    codes_taken = _code_problems(session, spec, cleans, labels)
    if single and codes_taken:
        code = codes_taken[0].value
        raise Conflict(f"{kind} code {code!r} already exists", codes_taken)
    refs = _ref_problems(session, spec, cleans, labels)
    if single and refs:
        raise ValidationFailed(f"{kind}: unknown references", refs)
    problems = invalid + codes_taken + refs
    if problems:
        only_codes = not invalid and not refs
        raise (Conflict if only_codes else ValidationFailed)(
            f"{kind}: {len(problems)} problems in {len(rows)} rows; nothing was written", problems
        )
    good = [c for c in cleans if c is not None]
    keep = spec.preload(session, good) if spec.preload else []  # noqa: F841  (strong refs keep the identity map warm)
    for i, clean in enumerate(good):
        problems += check_rules(session, spec, _state(spec, None, clean, None), labels[i])
    if problems:
        raise RuleViolation(
            f"{kind}: domain rule violated"
            if single
            else f"{kind}: domain rule violated in {len({p.row for p in problems})} rows",
            problems,
        )
    at = ctx.when()
    for i, clean in enumerate(good):
        _stamp_status(spec, None, clean, at)
        if ctx.guard:
            try:
                ctx.guard(session, spec, None, {k: json_value(v) for k, v in clean.items()})
            except Forbidden as exc:
                if single:
                    raise
                raise Forbidden(exc.message, [replace(p, row=labels[i]) for p in exc.problems]) from None
    params = [{c.name: clean.get(c.name, defaults.get(c.name)) for c in cols} for clean in good]
    # Plain executemany, then ids by (unique) code: RETURNING in parameter order would make SQLite go row by row.
    session.execute(insert(table), params)
    codes: list[str] = [str(p["code"]) for p in params]
    new_ids: dict[str, int] = {}
    for part in rules.chunks(codes):
        found = session.execute(select(table.c.code, table.c.id).where(table.c.code.in_(part)))
        new_ids.update({code: int(obj_id) for code, obj_id in found})
    ids = [new_ids[code] for code in codes]
    afters: list[dict[str, Any]] = []
    for obj_id, clean, values in zip(ids, good, params, strict=True):
        after = {"id": obj_id, **{k: json_value(v) for k, v in values.items() if k not in spec.observed}}
        for link in spec.links:
            targets = sorted(set(clean.get(link.field) or []))
            after[link.field] = targets
        afters.append(after)
    for link in spec.links:
        own = next(c.name for c in link.table.columns if c.name != "target_id")
        pairs = [{own: a["id"], "target_id": t} for a in afters for t in a[link.field]]
        if pairs:
            session.execute(insert(link.table), pairs)
    log: Any = ChangeLog.__table__
    session.execute(insert(log), [entry for a in afters for entry in creation_log(ctx, kind, a, at)])
    return ids


def delete(session: Session, kind: str, obj_id: int, ctx: ChangeContext) -> None:
    """Delete one object unless something still references it."""
    spec = KINDS[kind]
    obj = get_or_404(session, spec, obj_id)
    before = snapshot(spec, obj)
    if ctx.guard:
        ctx.guard(session, spec, before, None)
    refs = referencing_counts(session, spec, obj_id)
    decided = determination_codes(session, spec, obj_id)
    if refs or decided:
        codes = ", ".join(decided)
        raise Conflict(
            f"{spec.zh} {before.get('code')} 被技术认定 {codes} 引用，不能删除 / {kind} {before.get('code')} "
            f"is still referenced by determination {codes}"
            if decided
            else f"{spec.zh} {before.get('code')} 仍被引用，不能删除 / {kind} {before.get('code')} is still referenced",
            [Problem(f"技术认定 {c} 针对它 / determination {c} is about it", field="id", value=c) for c in decided]
            + [Problem(f"referenced by {n} {where}", field="id", value=obj_id) for where, n in refs.items()],
        )
    for link in spec.links:
        setattr(obj, link.relationship, [])
    session.delete(obj)
    session.flush()
    record_change(session, ctx, kind, obj_id, ChangeAction.DELETE, before, None, before.get("code"))


def determination_codes(session: Session, spec: KindSpec, obj_id: int) -> list[str]:
    """Codes of the determinations (in force or not) about this object: their subject is stored by id only,
    so deleting it would hand them to the next object given the same id."""
    if spec.subject is None:
        return []
    return list(
        session.scalars(
            select(Determination.code)
            .where(Determination.subject_kind == spec.subject, Determination.subject_id == obj_id)
            .order_by(Determination.code)
        )
    )


def referencing_counts(session: Session, spec: KindSpec, obj_id: int) -> dict[str, int]:
    """Rows in other tables (or link lists) that point at this object."""
    table = spec.model.__table__
    own_links = {lk.table.name for lk in spec.links}
    found: dict[str, int] = {}
    for other in Base.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is not table:
                continue
            if other.name in own_links and fk.parent.name == "system_id":
                continue
            n = session.scalar(select(func.count()).select_from(other).where(fk.parent == obj_id)) or 0
            if n and not (other is table and fk.parent.name == "id"):
                key = f"{other.name}.{fk.parent.name}"
                found[key] = found.get(key, 0) + n
    return found


def set_device_facts(session: Session, device_id: int, facts: dict[str, Any] | None, at: datetime) -> None:
    """Store what a collector read from a device; facts are observations (`KindSpec.observed`), not change-logged.
    `at` is stored as UTC (SQLite would keep a +08:00 time's wall clock and drop its offset)."""
    obj: Any = get_or_404(session, KINDS["devices"], device_id)
    obj.facts, obj.facts_at = facts, times.to_utc(at)
    session.flush()
