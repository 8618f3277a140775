"""Who may do what: API tokens (stored hashed), roles, unit-subtree scope, and the write guard.

Lives in inventory (the bottom layer) because every package's router needs the same principal.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.enums import Role
from inventory.errors import Conflict, Forbidden, NotFound, Problem, Unauthorized, ValidationFailed
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


RESERVED_NAME_PREFIX = "system:"


def identity_key(name: str) -> str:
    """Who a token name stands for: width, case and white space do not make another person (duties)."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


def create_token(
    session: Session, name: str, role: Role, unit_id: int | None = None, expires_at: datetime | None = None
) -> str:
    """Create a token and return its plain text once; only the hash is stored.

    The name is the person's identity for segregation of duties: normalised, never empty, never the reserved
    `system:` prefix, and unique up to width, case and white space.
    """
    name = " ".join(unicodedata.normalize("NFKC", name).split())
    if not name or name.casefold().startswith(RESERVED_NAME_PREFIX):
        raise ValidationFailed(
            "令牌名称不能为空，也不能以 system: 开头 / a token name must not be empty or start with system:",
            [Problem("empty or reserved", field="name", value=name)],
        )
    key = identity_key(name)
    if any(identity_key(n) == key for n in session.scalars(select(ApiToken.name))):
        raise Conflict(
            f"令牌名称 {name} 已被使用 / token name {name} is taken (names identify people; use the existing "
            "token or another name)",
            [Problem("duplicate up to width, case and spaces", field="name", value=name)],
        )
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
        if spec.name == "units":
            _guard_scoped_unit_change(p, before or {}, after or {})

    return guard


def _guard_scoped_unit_change(p: Principal, before: dict[str, Any], after: dict[str, Any]) -> None:
    """A scoped role may not move a unit into or out of its subtree, move its own unit, or change who approves.

    The sub-cloud-chief flag decides who gives first-level approval, so only the office sets it, clears it, creates
    a flagged unit or deletes one (《广西政务数据“聚通用”攻坚行动计划》§三(二) 云长制). A unit may move only between
    parents inside the caller's subtree, and the caller's own unit keeps its place, level and region (they decide
    which node counts for its horizontal access).
    """
    assert p.units is not None
    if before and not after and before.get("id") == p.unit_id:
        raise Forbidden("不能删除本单位 / a scoped role cannot delete its own unit", [Problem("read-only", field="id")])
    if before and after and after.get("parent_id") != before.get("parent_id"):
        if before.get("id") == p.unit_id:
            raise Forbidden(
                "不能移动本单位 / a scoped role cannot move its own unit", [Problem("read-only", field="parent_id")]
            )
        if after.get("parent_id") not in p.units:
            raise Forbidden(
                "不能把单位移出本单位子树 / a unit cannot be moved out of your unit subtree",
                [Problem("outside your unit subtree", field="parent_id", value=after.get("parent_id"))],
            )
    if before and after and before.get("id") == p.unit_id:
        for name in ("level", "region_id"):
            if after.get(name) != before.get(name):
                raise Forbidden(
                    "不能修改本单位的层级或所在区划 / a scoped role cannot change its own unit's level or region",
                    [Problem("read-only for scoped roles", field=name)],
                )
    flag_before, flag_after = bool(before.get("is_sub_cloud_chief")), bool(after.get("is_sub_cloud_chief"))
    if (before and after and flag_before != flag_after) or (not before and flag_after) or (not after and flag_before):
        raise Forbidden(
            "子云长单位由云长制办公室认定 / only the cloud-chief office sets is_sub_cloud_chief, or creates or deletes "
            "a sub-cloud-chief unit",
            [Problem("read-only for scoped roles", field="is_sub_cloud_chief")],
        )
