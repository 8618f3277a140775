"""`/api/v1/accounts`: the administrator's list of accounts, create, change role/unit/disabled, unlock.

No response ever holds a password or its hash; a password sent to create an account is only hashed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from core import accounts
from core.deps import CurrentPrincipal, SessionDep, change_context
from core.enums import Role
from core.models import Account
from core.responses import ResponseModel
from core.times import OutputTime
from core.validation import Id


class AccountOut(ResponseModel):
    id: int
    username: str
    display_name: str | None
    email: str | None
    role: Role
    unit_id: int | None
    source: Literal["local", "oidc"]
    oidc_issuer: str | None
    oidc_subject: str | None
    failed_logins: int
    locked_until: OutputTime | None
    disabled: bool
    created_at: OutputTime
    last_login_at: OutputTime | None


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    role: Role
    unit_id: Id | None = None
    display_name: Annotated[str | None, Field(max_length=200)] = None
    email: Annotated[str | None, Field(max_length=254)] = None


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    unit_id: Id | None = None
    disabled: bool | None = None
    display_name: Annotated[str | None, Field(max_length=200)] = None
    email: Annotated[str | None, Field(max_length=254)] = None


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])

    @router.get("", response_model=list[AccountOut], summary="账户列表 / List accounts")
    def list_accounts(session: SessionDep) -> list[Account]:
        return list(session.scalars(select(Account).order_by(Account.username_key)))

    @router.post("", response_model=AccountOut, status_code=201, summary="新建本地账户 / Create a local account")
    def create(body: AccountIn, request: Request, principal: CurrentPrincipal, session: SessionDep) -> Account:
        ctx = change_context(request, principal)
        fields = body.model_dump()
        account = accounts.create(session, ctx, accounts.NewAccount(**fields))
        session.commit()
        return account

    @router.patch("/{account_id}", response_model=AccountOut, summary="修改角色、单位或停用 / Change an account")
    def patch(
        account_id: Id, body: AccountPatch, request: Request, principal: CurrentPrincipal, session: SessionDep
    ) -> Account:
        changes: dict[str, Any] = body.model_dump(exclude_unset=True)
        changes = {k: v for k, v in changes.items() if v is not None or k in ("unit_id", "display_name", "email")}
        account = accounts.update(
            session, change_context(request, principal), accounts.get(session, account_id), **changes
        )
        session.commit()
        return account

    @router.post("/{account_id}/unlock", response_model=AccountOut, summary="解除锁定 / Unlock an account")
    def unlock(account_id: Id, request: Request, principal: CurrentPrincipal, session: SessionDep) -> Account:
        account = accounts.get(session, account_id)
        accounts.unlock(session, change_context(request, principal), account)
        session.commit()
        return account

    return router


def install(app: FastAPI) -> None:
    app.include_router(build_router())
