"""FastAPI dependencies shared by every router: the session and the authenticated principal."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from inventory.auth import Principal, authenticate
from inventory.db import Database
from inventory.enums import Role
from inventory.service import ChangeContext, Guard


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; routes commit explicitly, anything uncommitted is rolled back."""
    with get_database(request).sessions() as session:
        try:
            yield session
        finally:
            session.rollback()


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    request: Request, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):  # the permission gate authenticated this request already
        return cached
    token = None
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    principal = authenticate(session, token)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def change_context(
    request: Request, principal: Principal, guard: Guard | None = None, message: str | None = None
) -> ChangeContext:
    """The audit context for a write made by this request."""
    return ChangeContext(
        actor=principal.name,
        role=principal.role.value,
        message=message,
        request_id=getattr(request.state, "request_id", None),
        guard=guard,
    )


def require_roles(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency that admits only these roles."""

    def dep(principal: CurrentPrincipal) -> Principal:
        principal.require(*roles)
        return principal

    return Depends(dep)
