"""FastAPI dependencies shared by every router: the session and the authenticated principal."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from core.audit import ChangeContext, Guard
from core.db import Database
from core.identity import Principal, authenticate
from core.wiring import DATABASE, services


def get_database(request: Request) -> Database:
    return services(request.app).get(DATABASE)


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; routes commit explicitly, anything uncommitted is rolled back.

    GET/HEAD requests only read and get a read session (on SQLite: concurrent with the one writer);
    every other method gets a write session (on SQLite: the write lock from its first statement).
    """
    db = get_database(request)
    factory = db.read_sessions if request.method in ("GET", "HEAD") else db.sessions
    with factory() as session:
        try:
            yield session
        finally:
            session.rollback()


SessionDep = Annotated[Session, Depends(get_session)]
DatabaseDep = Annotated[Database, Depends(get_database)]


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
    # End the authentication's transaction: on SQLite a write request's transaction holds the write lock
    # from its first statement, and a route that writes through its own sessions (a sweep, a job run)
    # must not wait behind its own request. The route's first statement starts a new transaction.
    if session.in_transaction():
        session.commit()
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
