"""Browser sessions: a random session id in the HttpOnly cookie `yw_session`, only its SHA-256 stored.

CSRF is a double submit bound to the session: the non-HttpOnly cookie `yw_csrf` must be echoed in the header
`X-CSRF-Token` on every request other than GET/HEAD/OPTIONS that a session cookie authenticates (bearer-token
requests are exempt), and its hash must be the session's. Sessions end after an idle time and an absolute time;
a sign-in always starts a new session id, a sign-out deletes it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, Response
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from core.errors import Forbidden, Problem
from core.identity import SCOPED_ROLES, Principal, hash_token, unit_subtree
from core.models import Account, AuthSession
from core.times import from_db
from core.wiring import Key, services

SESSION_COOKIE = "yw_session"
CSRF_COOKIE = "yw_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


@dataclass(frozen=True)
class AuthConfig:
    """How sessions behave: idle and absolute timeouts; the Secure flag (None: when the request is https)."""

    idle: timedelta = timedelta(hours=8)
    absolute: timedelta = timedelta(hours=12)
    cookie_secure: bool | None = None


AUTH_CONFIG: Key[AuthConfig] = Key("auth_config")


def auth_config(request: Request) -> AuthConfig:
    return services(request.app).find(AUTH_CONFIG) or AuthConfig()


@dataclass(frozen=True)
class Started:
    session_id: str
    csrf: str
    expires_at: datetime


def start(session: Session, account: Account, config: AuthConfig, now: datetime) -> Started:
    """A new session for the account (a new id every sign-in); the account's expired sessions are dropped."""
    session.execute(
        delete(AuthSession).where(
            AuthSession.account_id == account.id,
            or_(AuthSession.expires_at < now, AuthSession.last_seen_at < now - config.idle),
        )
    )
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + config.absolute
    session.add(
        AuthSession(
            id_hash=hash_token(sid),
            csrf_hash=hash_token(csrf),
            account_id=account.id,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return Started(sid, csrf, expires)


def find(session: Session, sid: str, config: AuthConfig, now: datetime) -> tuple[AuthSession, Account] | None:
    """The live session and its account, or None (unknown, expired, idle too long, account disabled)."""
    row = session.scalar(select(AuthSession).where(AuthSession.id_hash == hash_token(sid)))
    if row is None or from_db(row.expires_at) <= now or from_db(row.last_seen_at) + config.idle <= now:
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.disabled:
        return None
    return row, account


def end(session: Session, sid: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.id_hash == hash_token(sid)))


def check_csrf(request: Request, row: AuthSession) -> None:
    """Refuse (403) a state-changing request whose X-CSRF-Token is missing or not this session's."""
    if request.method.upper() in SAFE_METHODS:
        return
    header = request.headers.get(CSRF_HEADER) or ""
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    if (
        not header
        or not hmac.compare_digest(header, cookie)
        or not hmac.compare_digest(hash_token(header), row.csrf_hash)
    ):
        raise Forbidden(
            "CSRF 校验失败：请求头 X-CSRF-Token 须与 Cookie yw_csrf 一致 / CSRF check failed: send the yw_csrf "
            "cookie's value in the X-CSRF-Token header",
            [Problem("missing or wrong X-CSRF-Token", field="csrf")],
        )


def principal_of(session: Session, account: Account) -> Principal:
    units = unit_subtree(session, account.unit_id) if account.role in SCOPED_ROLES and account.unit_id else None
    return Principal(name=account.username, role=account.role, unit_id=account.unit_id, units=units, auth="session")


def is_secure(request: Request, config: AuthConfig) -> bool:
    return config.cookie_secure if config.cookie_secure is not None else request.url.scheme == "https"


def set_cookies(response: Response, started: Started, secure: bool, config: AuthConfig) -> None:
    max_age = int(config.absolute.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, started.session_id, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )
    response.set_cookie(
        CSRF_COOKIE, started.csrf, max_age=max_age, path="/", secure=secure, httponly=False, samesite="lax"
    )


def clear_cookies(response: Response, secure: bool) -> None:
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="lax")
