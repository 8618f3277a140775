"""Who a task works for, as JSON in its payload: the caller (`Principal`) and the change context (actor, role,
message, request id, back-dating), so a job is authorised and audited as the person who asked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.enums import Role
from core.errors import Forbidden, Problem
from core.identity import Principal
from core.models import Account, ApiToken
from core.times import iso, now_utc, to_utc


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


def require_still_allowed(session: Session, p: Principal) -> None:
    """Forbidden unless the caller still holds the same role and unit as when the job was asked for: an enabled
    account of that name (a signed-in person, or the account a token acts for), or an unrevoked, unexpired token of
    that name. A job that waited (a worker or the broker down) never runs with rights revoked meanwhile."""
    account = session.scalar(select(Account).where(Account.username == p.name))
    if account is not None:
        ok = not account.disabled and account.role == p.role and account.unit_id == p.unit_id
    else:
        token = session.scalar(select(ApiToken).where(ApiToken.name == p.name, ApiToken.owner_key.is_(None)))
        expires = token.expires_at if token is not None else None
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=now_utc().tzinfo)
        ok = (
            token is not None
            and not token.revoked
            and (expires is None or expires > now_utc())
            and token.role == p.role
            and token.unit_id == p.unit_id
        )
    if not ok:
        raise Forbidden(
            "提交者的权限已变更，任务未执行 / the rights of who asked changed since; the job did nothing",
            [Problem("revoked, disabled or changed since the job was asked for", field="requested_by")],
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
