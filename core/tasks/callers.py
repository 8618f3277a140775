"""Who a task works for, as JSON in its payload: the caller (`Principal`) and the change context (actor, role,
message, request id, back-dating), so a job is authorised and audited as the person who asked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.audit import ChangeContext
from core.enums import Role
from core.identity import Principal
from core.times import iso, to_utc


def principal_json(p: Principal) -> dict[str, Any]:
    return {
        "name": p.name,
        "role": p.role.value,
        "unit_id": p.unit_id,
        "units": sorted(p.units) if p.units is not None else None,
        "auth": p.auth,
    }


def principal_of(d: dict[str, Any]) -> Principal:
    units = d.get("units")
    return Principal(
        d["name"], Role(d["role"]), d.get("unit_id"), frozenset(units) if units is not None else None, d["auth"]
    )


def context_json(ctx: ChangeContext) -> dict[str, Any]:
    out: dict[str, Any] = {"actor": ctx.actor, "role": ctx.role, "message": ctx.message, "request_id": ctx.request_id}
    if ctx.history_since is not None:
        out["history_since"] = iso(ctx.history_since)
    return out


def context_of(d: dict[str, Any]) -> ChangeContext:
    since = d.get("history_since")
    return ChangeContext(
        d["actor"],
        d.get("role"),
        d.get("message"),
        d.get("request_id"),
        history_since=to_utc(datetime.fromisoformat(since)) if since else None,
    )
