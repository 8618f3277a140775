"""Who may do what: API tokens (stored hashed), roles, unit-subtree scope, and the write guard.

Lives in inventory (the bottom layer) because every package's router needs the same principal.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import Role
from inventory.errors import Forbidden, NotFound, Problem, Unauthorized
from inventory.kinds import KINDS, KindSpec
from inventory.models import ApiToken, Unit, VerticalSystem
from inventory.service import Guard, now_utc

TOKEN_PREFIX = "yw_"
SCOPED_ROLES = frozenset({Role.SUB_CLOUD_CHIEF, Role.DEPARTMENT_USER})
ALL_KINDS = frozenset(KINDS)

# Inventory kinds each role may write; scoped roles only inside their unit subtree.
INVENTORY_WRITE: dict[Role, frozenset[str]] = {
    Role.ADMIN: ALL_KINDS,
    Role.CLOUD_CHIEF_OFFICE: ALL_KINDS,
    Role.SUB_CLOUD_CHIEF: frozenset(
        {"units", "rooms", "internet_exits", "networks", "systems", "vertical_systems", "service_items", "node_access"}
    ),
    Role.CLOUD_OPERATOR: frozenset({"clouds", "rooms", "systems"}),
    Role.NETWORK_ADMIN: frozenset({"extranet_nodes", "devices", "node_access", "networks", "internet_exits"}),
    Role.DEPARTMENT_USER: frozenset({"systems", "networks", "internet_exits"}),
    Role.AUDITOR: frozenset(),
}
GLOBAL_READERS = frozenset({Role.ADMIN, Role.CLOUD_CHIEF_OFFICE, Role.AUDITOR})


@dataclass(frozen=True)
class Principal:
    """The caller: a token's name, role and (for scoped roles) the unit ids it may see."""

    name: str
    role: Role
    unit_id: int | None = None
    units: frozenset[int] | None = None  # None: not scoped

    @property
    def scoped(self) -> bool:
        return self.units is not None

    def require(self, *roles: Role) -> None:
        """Raise Forbidden unless the caller has one of these roles."""
        if self.role not in roles:
            raise Forbidden(
                f"role {self.role.value} may not do this",
                [Problem(f"needs one of: {', '.join(r.value for r in roles)}", field="role")],
            )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, name: str, role: Role, unit_id: int | None = None, expires_at: datetime | None = None
) -> str:
    """Create a token and return its plain text once; only the hash is stored."""
    if role in SCOPED_ROLES and unit_id is None:
        raise Forbidden(f"role {role.value} needs a unit", [Problem("required for scoped roles", field="unit")])
    if unit_id is not None and session.get(Unit, unit_id) is None:
        raise NotFound("unknown unit", [Problem("no such unit", field="unit", value=unit_id)])
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name, token_hash=hash_token(plain), prefix=plain[:8], role=role, unit_id=unit_id, expires_at=expires_at
        )
    )
    session.flush()
    return plain


def unit_subtree(session: Session, unit_id: int) -> frozenset[int]:
    """The unit and every unit below it (recursive over parent_id)."""
    tree = select(Unit.id).where(Unit.id == unit_id).cte("tree", recursive=True)
    tree = tree.union_all(select(Unit.id).where(Unit.parent_id == tree.c.id))
    return frozenset(session.scalars(select(tree.c.id)))


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal for a bearer token, or Unauthorized (the token itself is never echoed)."""
    if not token:
        raise Unauthorized(
            "missing bearer token", [Problem("send Authorization: Bearer <token>", field="authorization")]
        )
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked:
        raise Unauthorized("invalid or revoked token")
    if row.expires_at is not None:
        exp = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now_utc().tzinfo)
        if exp < now_utc():
            raise Unauthorized("token expired")
    units = unit_subtree(session, row.unit_id) if row.role in SCOPED_ROLES and row.unit_id else None
    return Principal(name=row.name, role=row.role, unit_id=row.unit_id, units=units)


def owner_unit(session: Session, spec: KindSpec, state: dict[str, Any]) -> int | bool | None:
    """The unit that owns an object state; False when the kind has no owner (shared reference data)."""
    if spec.name == "units":
        return state.get("id") if state.get("id") is not None else state.get("parent_id")
    if spec.unit_field:
        return state.get(spec.unit_field)
    if spec.parent_kind == "vertical_systems":
        vs = session.get(VerticalSystem, state.get("vertical_system_id"))
        return vs.owner_unit_id if vs else None
    return False


def write_guard(p: Principal) -> Guard:
    """A service guard that lets the principal write only what its role and scope allow."""

    def guard(session: Session, spec: KindSpec, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        if spec.name not in INVENTORY_WRITE[p.role]:
            raise Forbidden(
                f"role {p.role.value} may not change {spec.name}",
                [Problem("not writable by this role", field="kind", value=spec.name)],
            )
        if p.units is None:
            return
        for state in (before, after):
            if state is None:
                continue
            owner = owner_unit(session, spec, state)
            if owner is False or owner not in p.units:
                raise Forbidden(
                    f"{spec.name} is outside unit scope of {p.name}",
                    [Problem("outside your unit subtree", field=spec.unit_field or "unit")],
                )
        if spec.name == "units" and before is not None and after is not None:
            _guard_scoped_unit_change(p, before, after)

    return guard


def _guard_scoped_unit_change(p: Principal, before: dict[str, Any], after: dict[str, Any]) -> None:
    """A scoped role may not move a unit into or out of its subtree, move its own unit, or change who approves.

    The sub-cloud-chief flag decides who gives first-level approval, so only the office changes it
    (《广西政务数据“聚通用”攻坚行动计划》§三(二) 云长制); a unit may move only between parents that stay inside
    the caller's subtree.
    """
    assert p.units is not None
    if after.get("parent_id") != before.get("parent_id"):
        if before.get("id") == p.unit_id:
            raise Forbidden(
                "不能移动本单位 / a scoped role cannot move its own unit", [Problem("read-only", field="parent_id")]
            )
        if after.get("parent_id") not in p.units:
            raise Forbidden(
                "不能把单位移出本单位子树 / a unit cannot be moved out of your unit subtree",
                [Problem("outside your unit subtree", field="parent_id", value=after.get("parent_id"))],
            )
    if bool(after.get("is_sub_cloud_chief")) != bool(before.get("is_sub_cloud_chief")):
        raise Forbidden(
            "子云长单位由云长制办公室认定 / only the cloud-chief office sets is_sub_cloud_chief",
            [Problem("read-only for scoped roles", field="is_sub_cloud_chief")],
        )
