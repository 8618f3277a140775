"""GET /api/v1/me: who the caller is, so the console can show the navigation of its role."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import select

from core.deps import CurrentPrincipal, SessionDep
from inventory.models import Unit


class MeOut(BaseModel):
    """The signed-in caller: name, role and (for scoped roles) the unit whose subtree it sees."""

    name: str
    role: str
    unit_id: int | None
    unit_code: str | None
    unit_name: str | None
    scoped: bool


def install(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/v1", tags=["console"])

    @router.get("/me", response_model=MeOut, summary="当前用户 / Who am I")
    def me(principal: CurrentPrincipal, session: SessionDep) -> MeOut:
        unit = session.scalar(select(Unit).where(Unit.id == principal.unit_id)) if principal.unit_id else None
        return MeOut(
            name=principal.name,
            role=principal.role.value,
            unit_id=principal.unit_id,
            unit_code=unit.code if unit else None,
            unit_name=unit.name if unit else None,
            scoped=principal.scoped,
        )

    app.include_router(router)
