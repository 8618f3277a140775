"""Self-declared completions: a department user setting its own system or network to migrated/interconnected
does not move a rate until the cloud-chief office confirms it (or the service holds evidence: a provisioned
gov-cloud request for the system). The office lists what is pending and confirms; each confirmation is a
decision in the change log (kind systems/networks, action decide, `after.confirmed = true`, full snapshot)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ChangeContext, json_value, record_change
from core.enums import ChangeAction
from core.errors import Conflict, NotFound, Problem
from dashboards.rates import pending_declarations, utc
from inventory import service
from inventory.kinds import KINDS
from inventory.models import Unit

KINDS_CONFIRMED = ("systems", "networks", "internet_exits")


def pending(
    session: Session, at: datetime | None = None, unit_ids: Iterable[int] | None = None
) -> list[dict[str, Any]]:
    """Self-declared completions awaiting the office, oldest first (objects as they are now)."""
    out: list[dict[str, Any]] = []
    wanted = set(unit_ids) if unit_ids is not None else None
    for kind in KINDS_CONFIRMED:
        model: Any = KINDS[kind].model
        p = pending_declarations(kind, utc(at))
        rows = session.execute(
            select(
                p.c.id,
                p.c.declared_by,
                p.c.declared_at,
                p.c.status,
                model.code,
                model.name,
                model.status.label("status_now"),
                Unit.code.label("unit_code"),
                Unit.id.label("unit_id"),
            )
            .join(model, model.id == p.c.id)
            .join(Unit, Unit.id == model.owner_unit_id)
        ).mappings()
        for r in rows:
            if wanted is not None and r["unit_id"] not in wanted:
                continue
            declared_at = r["declared_at"]
            out.append(
                {
                    "kind": kind,
                    "id": r["id"],
                    "code": r["code"],
                    "name": r["name"],
                    "unit_code": r["unit_code"],
                    "declared_status": r["status"],
                    "status": getattr(r["status_now"], "value", r["status_now"]),
                    "declared_by": r["declared_by"],
                    "declared_at": json_value(declared_at) if declared_at is not None else None,
                }
            )
    out.sort(key=lambda d: (d["declared_at"] or "", d["kind"], d["code"]))
    return out


def confirm(session: Session, ctx: ChangeContext, kind: str, obj_id: int) -> dict[str, Any]:
    """Record the office's confirmation of a pending self-declared completion (409 when nothing is pending)."""
    if kind not in KINDS_CONFIRMED:
        raise NotFound(
            f"nothing to confirm for {kind!r}",
            [Problem(f"one of: {', '.join(KINDS_CONFIRMED)}", field="kind", value=kind)],
        )
    spec = KINDS[kind]
    obj: Any = service.get_or_404(session, spec, obj_id)
    p = pending_declarations(kind, None)
    if session.scalar(select(p.c.id).where(p.c.id == obj_id)) is None:
        raise Conflict(
            f"{kind} {obj.code}: 没有待确认的自报完成 / no self-declared completion is pending",
            [Problem("not pending confirmation", field="id", value=obj_id)],
        )
    snap = service.snapshot(spec, obj)
    record_change(
        session,
        ctx,
        kind,
        obj_id,
        ChangeAction.DECIDE,
        snap,
        {**snap, "confirmed": True},
        object_code=obj.code,
        message=ctx.message or "云长制办公室确认完成 / completion confirmed by the cloud-chief office",
    )
    return {"kind": kind, "id": obj_id, "code": obj.code, "status": snap.get("status"), "confirmed": True}
