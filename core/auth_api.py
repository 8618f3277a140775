"""Sign-in routes: `POST /auth/login` (password → session cookies), `POST /auth/logout`; `who` (the caller, as
`GET /api/v1/me` in orchestrator/console/api.py and the login answer show it).

The console's scripts call these with JSON and `credentials: "same-origin"`, and send the `yw_csrf` cookie's
value as `X-CSRF-Token` on every state-changing call (core.sessions). Who may call each route is its row in the
permission table; login and logout are public (logout ends only the caller's own session).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from core import accounts, sessions
from core.audit import ChangeContext
from core.db import Base
from core.deps import SessionDep
from core.errors import Problem, ValidationFailed
from core.identity import Principal
from core.models import Account
from core.responses import ResponseModel
from core.times import now_utc
from core.wiring import services


class LoginIn(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class WhoOut(ResponseModel):
    """The signed-in caller (the login answer; `GET /api/v1/me` adds the unit code and scope)."""

    name: str
    display_name: str | None = None
    role: str
    unit_id: int | None = None
    unit_name: str | None = None
    auth: Literal["session", "token"]
    csrf: str | None = Field(None, description="the session's CSRF value (as the yw_csrf cookie); sessions only")


class LogoutOut(ResponseModel):
    status: Literal["signed_out"]


def _units() -> Table:
    return Base.metadata.tables["units"]


def unit_name(session: Session, unit_id: int | None) -> str | None:
    if unit_id is None:
        return None
    return session.scalar(select(_units().c.name).where(_units().c.id == unit_id))


def who(session: Session, principal: Principal, request: Request, csrf: str | None = None) -> dict[str, Any]:
    """Who the caller is: name, display name, role, unit, how it signed in (and its CSRF value for sessions)."""
    display = None
    if principal.auth == "session":
        display = session.scalar(select(Account.display_name).where(Account.username == principal.name))
    out: dict[str, Any] = {
        "name": principal.name,
        "display_name": display,
        "role": principal.role.value,
        "unit_id": principal.unit_id,
        "unit_name": unit_name(session, principal.unit_id),
        "auth": "session" if principal.auth == "session" else "token",
    }
    if principal.auth == "session":
        out["csrf"] = csrf or request.cookies.get(sessions.CSRF_COOKIE)
    return out


def begin_session(
    request: Request, response: Response, session: Session, account: Account, now: Any = None
) -> sessions.Started:
    """Start a new session for the account (the caller's old one, if any, is deleted: the id rotates)."""
    config = sessions.auth_config(request)
    old = request.cookies.get(sessions.SESSION_COOKIE)
    if old:
        sessions.end(session, old)
    started = sessions.start(session, account, config, now or now_utc())
    sessions.set_cookies(response, started, sessions.is_secure(request, config), config)
    return started


def build_router() -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.post("/auth/login", response_model=WhoOut, response_model_exclude_unset=True, summary="登录 / Sign in")
    def login(body: LoginIn, request: Request, response: Response, session: SessionDep) -> dict[str, Any]:
        """Sign in with a username and password: sets `yw_session` (HttpOnly) and `yw_csrf`; 401 when refused
        (the same answer whatever was wrong); five failures in a row lock the account for 15 minutes."""
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise ValidationFailed(
                "登录请求须为 JSON / sign in with a JSON body", [Problem("application/json", field="content-type")]
            )
        ctx = ChangeContext(actor="system:sign-in", request_id=_rid(request))  # the account, once known
        account = accounts.login(session, ctx, body.username, body.password)
        if account is None:
            session.commit()  # the failure and any lock-out are recorded before the refusal
            raise accounts.refused()
        started = begin_session(request, response, session, account)
        principal = sessions.principal_of(session, account)
        out = who(session, principal, request, started.csrf)
        session.commit()
        return out

    @router.post("/auth/logout", response_model=LogoutOut, summary="退出登录 / Sign out")
    def logout(request: Request, response: Response, session: SessionDep) -> dict[str, str]:
        """End the caller's session (CSRF header required while the session is live) and clear its cookies."""
        config = sessions.auth_config(request)
        sid = request.cookies.get(sessions.SESSION_COOKIE)
        if sid:
            found = sessions.find(session, sid, config, now_utc())
            if found is not None:
                sessions.check_csrf(request, found[0])
            sessions.end(session, sid)
            session.commit()
        sessions.clear_cookies(response, sessions.is_secure(request, config))
        return {"status": "signed_out"}

    return router


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install(app: FastAPI, config: sessions.AuthConfig) -> None:
    """The sign-in routes and the session settings (read by `core.deps.get_principal`)."""
    services(app).provide(sessions.AUTH_CONFIG, config)
    app.include_router(build_router())
