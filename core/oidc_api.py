"""Single sign-on routes: `GET /auth/oidc/login` (to the provider) and `GET /auth/oidc/callback` (back here).

A refused sign-on (tampered or stale state, a failed code exchange, an id_token that does not validate, a role
that cannot be mapped, an unknown unit, a disabled account) answers a short page in Chinese and English, starts
no session and creates no account; the attempt is in the audit log all the same.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from core import accounts, oidc, sessions
from core.audit import ChangeContext
from core.auth_api import begin_session
from core.db import Base
from core.deps import DatabaseDep
from core.errors import AppError, NotFound, Problem
from core.models import Account
from core.times import now_utc
from core.wiring import Key, services

OIDC_CONFIG: Key[oidc.OidcConfig] = Key("oidc_config")
STATE_COOKIE = "yw_oidc_state"
SYNC = "system:oidc"  # the actor of account changes made from the provider's claims
Text = Annotated[str, Query(max_length=2048)]


def _config(request: Request) -> oidc.OidcConfig:
    found = services(request.app).find(OIDC_CONFIG)
    if found is None:
        raise NotFound(
            "统一身份认证未配置 / single sign-on is not configured (YUNWANG_OIDC_*)",
            [Problem("not configured", field="oidc")],
        )
    return found


def refusal_page(reason: str, status: int = 403) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录被拒绝 / Sign-on refused</title>'
        f'</head><body><main><h1>登录被拒绝 / Sign-on refused</h1><p role="alert">{html.escape(reason)}</p>'
        '<p><a href="/">返回首页 / Back to the start page</a></p></main></body></html>'
    )
    resp = HTMLResponse(body, status_code=status)
    resp.delete_cookie(STATE_COOKIE, path="/auth/oidc")
    return resp


def _units() -> Table:
    return Base.metadata.tables["units"]


def upsert(session: Session, ident: oidc.Identity, ctx: ChangeContext) -> Account:
    """The account of this issuer and subject, created or brought up to date from the claims."""
    unit_id = None
    if ident.unit_code is not None:
        unit_id = session.scalar(select(_units().c.id).where(_units().c.code == ident.unit_code))
        if unit_id is None:
            raise oidc.Refused(f"单位编码 {ident.unit_code} 不存在 / unknown unit code {ident.unit_code}")
    account = session.scalar(
        select(Account).where(Account.oidc_issuer == ident.issuer, Account.oidc_subject == ident.subject)
    )
    try:
        if account is None:
            new = accounts.NewAccount(
                username=ident.username,
                role=ident.role,
                unit_id=unit_id,
                display_name=ident.display_name,
                email=ident.email,
                source="oidc",
                oidc_issuer=ident.issuer,
                oidc_subject=ident.subject,
            )
            return accounts.create(session, ctx, new)
        if account.disabled:
            raise oidc.Refused("账户已停用 / the account is disabled")
        wanted = {"role": ident.role, "unit_id": unit_id, "display_name": ident.display_name, "email": ident.email}
        changes = {k: v for k, v in wanted.items() if getattr(account, k) != v}
        return accounts.update(session, ctx, account, **changes) if changes else account
    except AppError as exc:
        raise oidc.Refused(exc.message) from None


def _record_refusal(db_session: Session, request: Request, reason: str) -> None:
    ctx = ChangeContext(actor="anonymous", request_id=getattr(request.state, "request_id", None))
    accounts.record_login(db_session, ctx, None, "", f"oidc_refused: {reason[:200]}")


def build_router() -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.get(
        "/auth/oidc/login",
        response_class=RedirectResponse,
        status_code=302,
        summary="统一身份认证登录 / Single sign-on",
    )
    def oidc_login(request: Request, db: DatabaseDep) -> Response:
        """Redirect to the provider (authorization code with PKCE S256, state and nonce)."""
        config = _config(request)
        try:
            with db.session() as s:
                url, state = oidc.begin(s, config, now_utc())
        except oidc.Refused as exc:
            return refusal_page(str(exc), 502)
        resp = RedirectResponse(url, status_code=302)
        secure = sessions.is_secure(request, sessions.auth_config(request))
        resp.set_cookie(
            STATE_COOKIE, state, max_age=600, path="/auth/oidc", secure=secure, httponly=True, samesite="lax"
        )
        return resp

    @router.get(
        "/auth/oidc/callback", response_class=HTMLResponse, summary="统一身份认证回调 / Single sign-on callback"
    )
    def oidc_callback(
        request: Request, db: DatabaseDep, state: Text = "", code: Text = "", error: Text = ""
    ) -> Response:
        """Check state, trade the code, validate the id_token, map role and unit, start a session, go to `/`."""
        config = _config(request)
        try:
            if error:
                raise oidc.Refused(f"统一身份认证拒绝了登录 / the provider refused the sign-on ({error[:100]})")
            with db.session() as s:
                flow = oidc.take_flow(s, state, request.cookies.get(STATE_COOKIE), now_utc())
            ident = oidc.map_identity(config, oidc.exchange(config, flow, code))
            resp = RedirectResponse("/", status_code=303)
            with db.session() as s:
                ctx = ChangeContext(actor=SYNC, request_id=getattr(request.state, "request_id", None))
                account = upsert(s, ident, ctx)
                begin_session(request, resp, s, account)
                account.failed_logins, account.last_login_at = 0, now_utc()
                login_ctx = ChangeContext(actor=account.username, request_id=ctx.request_id)
                accounts.record_login(s, login_ctx, account, account.username, "success_oidc")
        except oidc.Refused as exc:
            with db.session() as s:
                _record_refusal(s, request, str(exc))
            return refusal_page(str(exc))
        resp.delete_cookie(STATE_COOKIE, path="/auth/oidc")
        return resp

    return router


def install(app: FastAPI, config: oidc.OidcConfig | None) -> None:
    """The single sign-on routes; without a configuration they answer 404 (not configured)."""
    if config is not None:
        services(app).provide(OIDC_CONFIG, config)
    app.include_router(build_router())
