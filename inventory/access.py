"""Who may write which inventory kinds: per role, and for scoped roles only inside their unit subtree.

The caller (`core.identity.Principal`) is the platform's; this module holds the inventory's own rule: the kinds
each role may write (`INVENTORY_WRITE`), who owns an object (`owner_unit`) and the service guard (`write_guard`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.audit import Guard
from core.enums import Role
from core.errors import Forbidden, NotFound, Problem
from core.identity import Principal
from inventory.kinds import KINDS, KindSpec
from inventory.models import VerticalSystem

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
            if (owner is False or owner not in p.units) and state is before:
                # an existing object outside the scope is answered as a missing one (GET says 404 too), so
                # changing or deleting cannot tell a scoped caller which ids exist elsewhere
                raise NotFound(
                    f"{spec.name} {state.get('id')} not found",
                    [Problem("no such id", field="id", value=state.get("id"))],
                )
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
