"""FastAPI dependencies shared by every router: the session and the authenticated principal."""

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import update
from sqlalchemy.orm import Session

from core import sessions
from core.audit import ChangeContext, Guard
from core.db import Database
from core.errors import Problem, Unauthorized
from core.identity import Principal, authenticate
from core.models import AuthSession
from core.times import from_db, now_utc
from core.wiring import DATABASE, services


def get_database(request: Request) -> Database:
    return services(request.app).get(DATABASE)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session per request; routes commit explicitly, anything uncommitted is rolled back.

    GET/HEAD requests only read and get a read session (on SQLite: concurrent with the one writer; on PostgreSQL:
    autocommit, no BEGIN/ROLLBACK round trips);
    every other method gets a write session (on SQLite: the write lock from its first statement).

    Made here on the event loop (making a session does no I/O: its connection is taken at its first statement, in
    the handler's thread) and ended in a thread outside the handler pool: one handler-thread hop fewer than a sync
    generator dependency (docs/LISTS.md, "Speed").
    """
    db = get_database(request)
    factory = db.request_reads if request.method in ("GET", "HEAD") else db.sessions
    session = factory()
    try:
        yield session
    finally:
        # Not in a handler thread: with every handler thread waiting in the pool for a connection, finished requests
        # waiting for a thread to give theirs back stalled the process for the pool's 30 s timeout (review). A limiter
        # of its own per call, as FastAPI ends a sync generator dependency (fastapi.concurrency).
        with anyio.CancelScope(shield=True):  # a client gone mid-request still returns the connection
            await anyio.to_thread.run_sync(_end, session, limiter=anyio.CapacityLimiter(1))


def _end(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
DatabaseDep = Annotated[Database, Depends(get_database)]


def get_principal(
    request: Request, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """Authenticate the request (the permission gate calls this once; routes read the result via
    `current_principal`) and keep the principal on `request.state`."""
    token = None
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    sid = request.cookies.get(sessions.SESSION_COOKIE)
    # Machines keep their bearer tokens (checked first); a browser signed in with a password or single sign-on
    # sends its session cookie instead.
    principal = authenticate(session, token) if token or not sid else _from_session(request, session, sid)
    # End the authentication's transaction and give its connection back to the pool: on SQLite a write request's
    # transaction holds the write lock from its first statement, and a route that writes through its own sessions
    # (a sweep, a job run) must not wait behind its own request. And no request may hold a pooled connection while it
    # waits for a handler thread: with every thread waiting in the pool for a connection, that deadlocked until the
    # pool's 30 s timeout (review; a GET on PostgreSQL used to keep its autocommit connection to save a second
    # checkout). The route's first statement takes a connection again.
    if session.in_transaction():
        session.commit()
    request.state.principal = principal
    return principal


def _from_session(request: Request, session: Session, sid: str) -> Principal:
    """The principal of a session cookie; CSRF checked for state-changing methods; last seen kept fresh."""
    config, now = sessions.auth_config(request), now_utc()
    found = sessions.find(session, sid, config, now)
    if found is None:
        raise Unauthorized(
            "会话已过期或无效，请重新登录 / the session expired or is not valid: sign in again",
            [Problem("expired or unknown session", field="session")],
        )
    row, account = found
    sessions.check_csrf(request, row)
    principal = sessions.principal_of(session, account)
    if now - from_db(row.last_seen_at) >= sessions.TOUCH_EVERY:
        touch = update(AuthSession).where(AuthSession.id == row.id).values(last_seen_at=now)
        if request.method in ("GET", "HEAD"):  # a read session: write the time through a short write session
            session.commit()  # its connection back first: never two held at once (the pool could run dry circularly)
            with get_database(request).session() as writer:
                writer.execute(touch)
        else:
            session.execute(touch)
    return principal


async def current_principal(
    request: Request, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The route's principal: the one the permission gate authenticated (no thread hop), else authenticated now."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    return await run_in_threadpool(get_principal, request, session, authorization)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


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
