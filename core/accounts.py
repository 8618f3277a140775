"""Local and single sign-on accounts: the only writer of `accounts`, and the password sign-in with lock-out.

Every change and every sign-in (success, failure, lock-out) goes into the audit log (`core.audit.record_change`,
kinds `accounts` and `account_logins`) with who and when; no snapshot holds a password or a hash. A refused
sign-in says the same thing whether the username exists, the password is wrong, the account is locked or
disabled (and costs the same hashing work), so it never tells a guesser which usernames exist.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import passwords
from core.audit import ChangeContext, record_change
from core.enums import ChangeAction, Role
from core.errors import Conflict, Forbidden, NotFound, Problem, Unauthorized, ValidationFailed
from core.identity import SCOPED_ROLES, identity_key, person_name, unit_exists
from core.models import Account, ApiToken, AuthSession
from core.times import from_db, iso

KIND = "accounts"
LOGIN_KIND = "account_logins"
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
SOURCES = ("local", "oidc")

LOGIN_REFUSED = (
    "用户名或密码错误，或账户已停用或暂时锁定（连续 5 次失败锁定 15 分钟）/ wrong username or password, or the "
    "account is disabled or locked for 15 minutes after 5 failed sign-ins"
)


def normalise_username(name: str) -> str:
    """The username as stored (core.identity.person_name: visible, 1–100 characters, not `system:`)."""
    return person_name(name, "username", "用户名")


def snapshot(a: Account) -> dict[str, Any]:
    """What the audit log and the API show of an account: never the hash."""
    return {
        "id": a.id,
        "username": a.username,
        "display_name": a.display_name,
        "email": a.email,
        "role": a.role.value,
        "unit_id": a.unit_id,
        "source": a.source,
        "oidc_issuer": a.oidc_issuer,
        "oidc_subject": a.oidc_subject,
        "failed_logins": a.failed_logins,
        "locked_until": iso(a.locked_until) if a.locked_until else None,
        "disabled": a.disabled,
        "created_at": iso(a.created_at),
        "last_login_at": iso(a.last_login_at) if a.last_login_at else None,
    }


def _check_name_free(session: Session, key: str, name: str, own_id: int | None = None) -> None:
    taken = session.scalar(select(Account.id).where(Account.username_key == key))
    token_names = session.scalars(select(ApiToken.name))
    if (taken is not None and taken != own_id) or any(identity_key(n) == key for n in token_names):
        raise Conflict(
            f"用户名 {name} 已被账户或 API 令牌使用 / username {name} is taken by an account or an API token "
            "(names identify people for segregation of duties)",
            [Problem("duplicate up to width, case and spaces", field="username", value=name)],
        )


def _check_role_unit(session: Session, role: Role, unit_id: int | None) -> None:
    if role in SCOPED_ROLES and unit_id is None:
        raise ValidationFailed(
            f"角色 {role.value} 须指定单位 / role {role.value} needs a unit", [Problem("required", field="unit_id")]
        )
    if unit_id is not None and not unit_exists(session, unit_id):
        raise NotFound("单位不存在 / unknown unit", [Problem("no such unit", field="unit_id", value=unit_id)])


@dataclass(frozen=True)
class NewAccount:
    username: str
    role: Role
    unit_id: int | None = None
    display_name: str | None = None
    email: str | None = None
    password: str | None = None  # local accounts
    source: str = "local"
    oidc_issuer: str | None = None
    oidc_subject: str | None = None


def create(session: Session, ctx: ChangeContext, new: NewAccount) -> Account:
    """Create an account (local: with a password that meets the rules; oidc: with issuer and subject)."""
    name = normalise_username(new.username)
    key = identity_key(name)
    _check_name_free(session, key, name)
    _check_role_unit(session, new.role, new.unit_id)
    if new.source == "local":
        if new.password is None:
            raise ValidationFailed(
                "本地账户须设置密码 / a local account needs a password", [Problem("required", field="password")]
            )
        passwords.require_valid(new.password, key)
    account = Account(
        username=name,
        username_key=key,
        display_name=new.display_name,
        email=new.email,
        role=new.role,
        unit_id=new.unit_id,
        source=new.source,
        oidc_issuer=new.oidc_issuer,
        oidc_subject=new.oidc_subject,
        password_hash=passwords.hash_password(new.password) if new.password is not None else None,
        failed_logins=0,
        disabled=False,
        created_at=ctx.when(),
    )
    session.add(account)
    session.flush()
    record_change(session, ctx, KIND, account.id, ChangeAction.CREATE, None, snapshot(account), object_code=name)
    return account


def find(session: Session, username: str) -> Account | None:
    return session.scalar(select(Account).where(Account.username_key == identity_key(username)))


def get(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("账户不存在 / no such account", [Problem("not found", field="account_id", value=account_id)])
    return account


def require(session: Session, username: str) -> Account:
    account = find(session, username)
    if account is None:
        raise NotFound("账户不存在 / no such account", [Problem("not found", field="username", value=username[:100])])
    return account


def update(session: Session, ctx: ChangeContext, account: Account, **changes: Any) -> Account:
    """Change role, unit, disabled, display name or e-mail; disabling ends the account's sessions."""
    allowed = {"role", "unit_id", "disabled", "display_name", "email"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(
            "不可修改的字段 / fields that cannot be changed", [Problem("unknown", field=f) for f in sorted(unknown)]
        )
    before = snapshot(account)
    role = changes.get("role", account.role)
    unit_id = changes.get("unit_id", account.unit_id)
    _check_role_unit(session, role, unit_id)
    if ctx.actor == account.username and (changes.get("disabled") or role != account.role):
        raise Forbidden(
            "不能停用自己或修改自己的角色 / you cannot disable yourself or change your own role",
            [Problem("self", field="username")],
        )
    for field, value in changes.items():
        setattr(account, field, value)
    if account.disabled:
        end_sessions(session, account)
    session.flush()
    record_change(
        session, ctx, KIND, account.id, ChangeAction.UPDATE, before, snapshot(account), object_code=account.username
    )
    return account


def set_password(session: Session, ctx: ChangeContext, account: Account, password: str) -> None:
    """A new password (the rules apply); the account's sessions end and a lock is lifted."""
    if account.source != "local":
        raise Conflict(
            "统一身份认证账户没有本地密码 / a single sign-on account has no local password",
            [Problem("oidc", field="source")],
        )
    passwords.require_valid(password, account.username_key)
    before = snapshot(account)
    account.password_hash = passwords.hash_password(password)
    end_sessions(session, account)
    _unlock(session, ctx, account, before, "password changed / 密码已修改")


def unlock(session: Session, ctx: ChangeContext, account: Account) -> None:
    _unlock(session, ctx, account, snapshot(account), "unlocked / 已解锁")


def _unlock(session: Session, ctx: ChangeContext, account: Account, before: dict[str, Any], message: str) -> None:
    """Clear the failed sign-ins and the lock, and log the change from `before` (what the caller saw first)."""
    account.failed_logins, account.locked_until = 0, None
    session.flush()
    record_change(
        session,
        ctx,
        KIND,
        account.id,
        ChangeAction.UPDATE,
        before,
        snapshot(account),
        object_code=account.username,
        message=message,
    )


def end_sessions(session: Session, account: Account) -> None:
    for row in session.scalars(select(AuthSession).where(AuthSession.account_id == account.id)):
        session.delete(row)


def locked(account: Account, now: datetime) -> bool:
    return account.locked_until is not None and from_db(account.locked_until) > now


def record_login(session: Session, ctx: ChangeContext, account: Account | None, name: str, outcome: str) -> None:
    after = {"outcome": outcome, "failed_logins": account.failed_logins if account else None}
    if account is not None and account.locked_until is not None:
        after["locked_until"] = iso(account.locked_until)
    # The actor is the account, never the typed text: an unknown "username" may be anyone's name (a forged
    # actor in the audit log) or a password typed into the wrong field.
    who = replace(ctx, actor=account.username if account else "system:sign-in")
    code = account.username if account else "未知用户名 / unknown username"
    record_change(
        session, who, LOGIN_KIND, account.id if account else 0, ChangeAction.DECIDE, None, after, object_code=code
    )


def login(session: Session, ctx: ChangeContext, username: str, password: str) -> Account | None:
    """Check a password sign-in and record it; None when refused (the caller commits, then answers 401).

    Five failures in a row lock the account for 15 minutes; while locked even the right password is refused.
    """
    now = ctx.when()
    name = " ".join(username.split())[:100]
    account = find(session, name) if name else None
    ok = passwords.verify(account.password_hash if account else None, password)  # same work for unknown names
    if account is None:
        record_login(session, ctx, None, name, "unknown_username")
        return None
    if account.locked_until is not None and not locked(account, now):
        account.failed_logins, account.locked_until = 0, None  # the lock ran out
    if account.disabled or locked(account, now):
        record_login(session, ctx, account, name, "disabled" if account.disabled else "locked")
        return None
    if not ok:
        account.failed_logins += 1
        outcome = "wrong_password"
        if account.failed_logins >= MAX_FAILURES:
            account.locked_until = now + LOCK_FOR
            outcome = "locked_out"
        record_login(session, ctx, account, name, outcome)
        return None
    if account.password_hash and passwords.needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password)
    account.failed_logins, account.last_login_at = 0, now
    record_login(session, ctx, account, name, "success")
    return account


def refused() -> Unauthorized:
    return Unauthorized(LOGIN_REFUSED, [Problem("sign-in refused", field="credentials")])
