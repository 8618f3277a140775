"""Hierarchical unit quotas (配额): pure checks, plus the reads and writes the request service needs.

The rule (documented in the README):
- A limit is per resource (vcpus, ram_mb, disk_gb, instances, floating_ips); null means "only the ancestors'
  limits apply".
- A unit's limit may not exceed its nearest limited ancestor's limit for that resource, and may not be set
  below any child's limit (children's limits may together overbook the parent; allocations may not).
- Allocations: a request is admitted only if, for the unit itself and every ancestor with a limit, the usage of
  that unit's whole subtree (really provisioned + reserved by approved/scheduled/provisioning requests) plus
  the request stays within the limit. So the sum of the children's allocations never exceeds the parent's.
- Usage changes only from what is really provisioned: on provisioning success (+) and on retirement (-).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from core.audit import ChangeContext, record_change
from core.enums import ChangeAction
from core.errors import NotFound, Problem, RuleViolation
from core.identity import unit_subtree
from inventory.models import Unit
from orchestrator.requests.lifecycle import RequestStatus, Resources
from orchestrator.requests.models import ResourceRequest, UnitQuota, UnitUsage

FIELDS = Resources.FIELDS
RESERVING = (RequestStatus.APPROVED, RequestStatus.SCHEDULED, RequestStatus.PROVISIONING)
Limits = dict[str, int]  # only the resources that have a limit


@dataclass(frozen=True)
class QuotaLevel:
    """One unit on the path from the requesting unit to the root that has limits, and its subtree's usage."""

    unit_id: int
    limits: Limits
    used: Resources  # the whole subtree: provisioned + reserved


@dataclass(frozen=True)
class Excess:
    """A limit the request would break."""

    unit_id: int
    resource: str
    limit: int
    used: int
    demand: int

    def problem(self) -> Problem:
        return Problem(
            f"quota of unit {self.unit_id} exceeded: {self.used} used + {self.demand} requested > {self.limit}",
            field=self.resource,
            value=self.limit,
        )


def check(demand: Resources, chain: Sequence[QuotaLevel]) -> list[Excess]:
    """Every limit on the path that `demand` would break (empty: admitted)."""
    out: list[Excess] = []
    for level in chain:
        for res, limit in level.limits.items():
            used, need = getattr(level.used, res), getattr(demand, res)
            if need > 0 and used + need > limit:
                out.append(Excess(level.unit_id, res, limit, used, need))
    return out


def limit_problems(new: Limits, ancestor_limits: Sequence[Limits], child_limits: Sequence[Limits]) -> list[Problem]:
    """Why a unit's new limits break the hierarchy (ancestors nearest first)."""
    problems: list[Problem] = []
    for res, value in new.items():
        if value < 0:
            problems.append(Problem("a limit cannot be negative", field=res, value=value))
            continue
        parent = next((a[res] for a in ancestor_limits if res in a), None)
        if parent is not None and value > parent:
            problems.append(Problem(f"exceeds the parent's limit {parent}", field=res, value=value))
        biggest = max((c[res] for c in child_limits if res in c), default=None)
        if biggest is not None and value < biggest:
            problems.append(Problem(f"below a child's limit {biggest}", field=res, value=value))
    return problems


# --- database -------------------------------------------------------------------------------------------------


def unit_path(session: Session, unit_id: int) -> list[Unit]:
    """The unit and its ancestors, nearest first."""
    path: list[Unit] = []
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"unit {unit_id} not found", [Problem("no such unit", field="unit_id", value=unit_id)])
    seen: set[int] = set()
    while unit is not None and unit.id not in seen:
        path.append(unit)
        seen.add(unit.id)
        unit = session.get(Unit, unit.parent_id) if unit.parent_id else None
    return path


def limits_of(row: UnitQuota | None) -> Limits:
    if row is None:
        return {}
    return {f: getattr(row, f) for f in FIELDS if getattr(row, f) is not None}


def subtree_usage(session: Session, unit_ids: frozenset[int], exclude_request: int | None = None) -> Resources:
    """Provisioned usage plus reservations of in-flight requests, over these units."""
    ids = list(unit_ids)
    used = session.execute(
        select(*(func.coalesce(func.sum(getattr(UnitUsage, f)), 0) for f in FIELDS)).where(UnitUsage.unit_id.in_(ids))
    ).one()
    q = select(*(func.coalesce(func.sum(getattr(ResourceRequest, f"d_{f}")), 0) for f in FIELDS)).where(
        ResourceRequest.unit_id.in_(ids), ResourceRequest.status.in_(RESERVING)
    )
    if exclude_request is not None:
        q = q.where(ResourceRequest.id != exclude_request)
    reserved = session.execute(q).one()
    return Resources(*(int(a) + int(b) for a, b in zip(used, reserved, strict=True)))


def chain_for(session: Session, unit_id: int, exclude_request: int | None = None) -> list[QuotaLevel]:
    """The limited units on the path to the root, with their subtrees' usage."""
    chain: list[QuotaLevel] = []
    for unit in unit_path(session, unit_id):
        limits = limits_of(session.get(UnitQuota, unit.id))
        if limits:
            chain.append(
                QuotaLevel(unit.id, limits, subtree_usage(session, unit_subtree(session, unit.id), exclude_request))
            )
    return chain


def require_within(session: Session, unit_id: int, demand: Resources, exclude_request: int | None = None) -> None:
    """Raise RuleViolation (422) when the demand breaks any limit on the unit's path."""
    excess = check(demand, chain_for(session, unit_id, exclude_request))
    if excess:
        raise RuleViolation("quota exceeded", [e.problem() for e in excess])


def add_usage(session: Session, unit_id: int, delta: Resources) -> None:
    """Record really provisioned (+) or retired (-) resources of a unit, never below zero.

    One atomic upsert: two requests of one unit activated at once (PostgreSQL, READ COMMITTED) neither both
    insert the unit's first row (a primary-key violation) nor overwrite each other's read-modify-write.
    """
    table = cast(Table, UnitUsage.__table__)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    first = insert(table).values(unit_id=unit_id, **{f: max(0, getattr(delta, f)) for f in FIELDS})
    added = {f: func.coalesce(table.c[f], 0) + getattr(delta, f) for f in FIELDS}
    session.execute(
        first.on_conflict_do_update(
            index_elements=[table.c.unit_id],
            set_={**{f: case((v < 0, 0), else_=v) for f, v in added.items()}, "updated_at": func.now()},
        )
    )
    cached = session.identity_map.get(identity_key(UnitUsage, unit_id))
    if cached is not None:
        session.expire(cached)  # the row changed beneath the ORM


def usage_of(session: Session, unit_id: int) -> Resources:
    row = session.get(UnitUsage, unit_id)
    return Resources(*(getattr(row, f) for f in FIELDS)) if row else Resources()


def set_limits(session: Session, ctx: ChangeContext, unit_id: int, new: dict[str, int | None]) -> UnitQuota:
    """Set a unit's limits (null clears one), checked against the hierarchy and audited as a decision."""
    path = unit_path(session, unit_id)
    ancestors = [limits_of(session.get(UnitQuota, u.id)) for u in path[1:]]
    children = [
        limits_of(q)
        for q in session.scalars(
            select(UnitQuota).join(Unit, Unit.id == UnitQuota.unit_id).where(Unit.parent_id == unit_id)
        )
    ]
    row = session.get(UnitQuota, unit_id)
    before = limits_of(row)
    merged = {**before, **{k: v for k, v in new.items() if v is not None}}
    for k, v in new.items():
        if v is None:
            merged.pop(k, None)
    problems = limit_problems(merged, ancestors, children)
    if problems:
        raise RuleViolation("quota breaks the unit hierarchy", problems)
    if row is None:
        row = UnitQuota(unit_id=unit_id)
        session.add(row)
    for f in FIELDS:
        setattr(row, f, merged.get(f))
    if merged != before:
        record_change(
            session, ctx, "quotas", unit_id, ChangeAction.DECIDE, before or None, merged, object_code=path[0].code
        )
    session.flush()
    return row
