"""GET /api/v1/me: who the caller is, so the console can show the navigation of its role."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from core.auth_api import who
from core.deps import CurrentPrincipal, SessionDep
from inventory.models import Unit


class MeOut(BaseModel):
    """The signed-in caller: name, role and (for scoped roles) the unit whose subtree it sees."""

    name: str
    display_name: str | None = None
    role: str
    unit_id: int | None
    unit_code: str | None
    unit_name: str | None
    scoped: bool
    auth: Literal["session", "token"] = "token"
    csrf: str | None = Field(None, description="the session's CSRF value (as the yw_csrf cookie); sessions only")


def install(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1", tags=["console"])

    @router.get("/me", response_model=MeOut, summary="当前用户 / Who am I")
    def me(principal: CurrentPrincipal, session: SessionDep, request: Request) -> MeOut:
        """Who the caller is, signed in by a session (with its CSRF value) or by a bearer token alike."""
        unit = session.scalar(select(Unit).where(Unit.id == principal.unit_id)) if principal.unit_id else None
        return MeOut(**who(session, principal, request), unit_code=unit.code if unit else None, scoped=principal.scoped)

    app.include_router(router)
