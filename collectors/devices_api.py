"""Device collection status API: per device last success, last error and reason, facts age, host key.

Everyone authenticated reads the list; the raw excerpt of a failed output, clearing a host key and setting an
encoding need network_admin or admin (routes are gated by orchestrator/app/permission_table.py).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from collectors import api_models as m
from collectors import device_status
from core.deps import CurrentPrincipal, SessionDep, change_context
from core.enums import Role
from core.errors import NotFound, Problem
from core.validation import Id

WRITERS = (Role.ADMIN, Role.NETWORK_ADMIN)


class EncodingIn(BaseModel):
    encoding: Literal["utf-8", "gbk", "gb18030"]


def build_devices_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/collectors/devices", tags=["collectors"])

    @router.get(
        "",
        response_model=list[m.DeviceStatusOut],
        response_model_exclude_unset=True,
        summary="SSH collection status per device: last success, last error and reason, facts age",
    )
    def devices(
        principal: CurrentPrincipal,
        session: SessionDep,
        status: str | None = Query(default=None, max_length=20, description="ok | failing | never"),
        error: str | None = Query(default=None, max_length=40, description="a failure reason, e.g. parse_error"),
        node_id: Id | None = None,
    ) -> list[dict[str, Any]]:
        rows = device_status.describe(session)
        return [
            r
            for r in rows
            if (status is None or r["status"] == status)
            and (error is None or r["last_error"] == error)
            and (node_id is None or r["node_id"] == node_id)
        ]

    @router.get(
        "/{device_id}",
        response_model=m.DeviceStatusOut,
        response_model_exclude_unset=True,
        summary="One device: status, current facts and the excerpt of a failed output",
    )
    def device(device_id: Id, principal: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
        rows = device_status.describe(session, [device_id])
        if not rows:
            raise NotFound("no such device", [Problem("not found", field="device_id", value=device_id)])
        out = dict(rows[0])
        out["facts"] = device_status.facts(session, device_id)
        if principal.role in WRITERS:
            out["last_error_excerpt"] = device_status.excerpt(session, device_id)
        return out

    @router.delete(
        "/{device_id}/host-key",
        response_model=m.HostKeyClearedOut,
        summary="Forget the trusted SSH host key (after a legitimate change)",
    )
    def clear_host_key(
        device_id: Id, principal: CurrentPrincipal, session: SessionDep, request: Request
    ) -> dict[str, Any]:
        ctx = change_context(request, principal, message="clear trusted SSH host key")
        before = device_status.clear_host_key(session, device_id, ctx)
        session.commit()
        return {"device_id": device_id, "cleared": before["host_key_fingerprint"]}

    @router.put(
        "/{device_id}/encoding",
        response_model=m.EncodingOut,
        summary="The encoding to try first for this device's CLI output",
    )
    def put_encoding(
        device_id: Id, body: EncodingIn, principal: CurrentPrincipal, session: SessionDep, request: Request
    ) -> dict[str, Any]:
        ctx = change_context(request, principal, message="set CLI encoding")
        device_status.set_encoding(session, device_id, body.encoding, ctx)
        session.commit()
        return {"device_id": device_id, "encoding": body.encoding}

    return router
