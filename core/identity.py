"""Identity: API tokens (stored hashed), the caller (`Principal`) with its role and unit-subtree scope.

Scoped roles (sub-cloud-chief, department user) see and change only their unit and the units below it. The
unit tree is the inventory's `units` table, read here by name (id, parent_id) because core sits below the
inventory; what each role may do is `core.permissions` (routes) and `inventory.access` (inventory kinds).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from core.audit import ChangeContext, record_change
from core.db import Base
from core.enums import ChangeAction, Role
from core.errors import Conflict, Forbidden, NotFound, Problem, Unauthorized, ValidationFailed
from core.models import Account, ApiToken
from core.times import now_utc, to_utc


def _units() -> Table:
    return Base.metadata.tables["units"]


TOKEN_PREFIX = "yw_"
SCOPED_ROLES = frozenset({Role.SUB_CLOUD_CHIEF, Role.DEPARTMENT_USER})
GLOBAL_READERS = frozenset({Role.ADMIN, Role.CLOUD_CHIEF_OFFICE, Role.AUDITOR})


@dataclass(frozen=True)
class Principal:
    """The caller: a token's name, role and (for scoped roles) the unit ids it may see."""

    name: str
    role: Role
    unit_id: int | None = None
    units: frozenset[int] | None = None  # None: not scoped
    auth: str = "token"  # token (bearer) | session (a signed-in browser, core.sessions)

    @property
    def scoped(self) -> bool:
        return self.units is not None

    def require(self, *roles: Role) -> None:
        """Raise Forbidden unless the caller has one of these roles."""
        if self.role not in roles:
            raise Forbidden(
                f"role {self.role.value} may not do this",
                [Problem(f"needs one of: {', '.join(r.value for r in roles)}", field="role")],
            )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


RESERVED_NAME_PREFIX = "system:"


# Characters that show as nothing (or as a blank) yet make a different string: format characters (zero-width
# space, joiners, word joiner, soft hyphen, bidi marks), controls, private use, unassigned, line separators, and
# the fillers that render as a blank. A name with one of them could pose as another person in the audit log.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Co", "Cs", "Cn", "Zl", "Zp"})
_BLANK_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")


def person_name(name: str, field: str, what: str) -> str:
    """A person's name (a username or a token's name) as stored: NFKC, white space collapsed; refused (422) when
    empty, longer than 100 characters, holding an invisible character, or starting with the reserved `system:`
    (white space ignored, so `system :x` is refused too)."""
    clean = " ".join(unicodedata.normalize("NFKC", name).split())
    hidden = [c for c in clean if unicodedata.category(c) in _INVISIBLE_CATEGORIES or c in _BLANK_FILLERS]
    reserved = "".join(clean.split()).casefold().startswith(RESERVED_NAME_PREFIX)
    if not clean or len(clean) > 100 or hidden or reserved:
        shown = ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(hidden))
        raise ValidationFailed(
            f"{what}须为 1–100 个可见字符，且不能以 system: 开头 / a {field} has 1–100 visible characters and does not "
            "start with system:" + (f" (invisible: {shown})" if shown else ""),
            [Problem("empty, too long, invisible characters or reserved", field=field, value=clean[:100])],
        )
    return clean


def identity_key(name: str) -> str:
    """Who a token name stands for: width, case and white space do not make another person (duties)."""
    # NFKC again after casefold: folding can leave a string that is not normalised (ΰ → ΰ), so two spellings
    # of one name would get two keys (found by hypothesis, tests/unit/core/test_accounts.py).
    return unicodedata.normalize("NFKC", " ".join(unicodedata.normalize("NFKC", name).split()).casefold())


def create_token(
    session: Session,
    name: str,
    role: Role,
    unit_id: int | None = None,
    expires_at: datetime | None = None,
    owner: str | None = None,
    ctx: ChangeContext | None = None,
) -> str:
    """Create a token and return its plain text once; only the hash is stored.

    The name is normalised, never empty, never the reserved `system:` prefix, and unique up to width, case and
    white space. Without `owner` the name is the person's identity for segregation of duties; with `owner` (an
    account's username) the token acts as that account — its name, and its role and unit as they are at each use —
    so one person cannot approve as their account what they requested with their token. With `ctx` the creation is
    in the change log (kind `api_tokens`; never the token).
    """
    name = person_name(name, "name", "令牌名称")
    key = identity_key(name)
    taken_by_account = session.scalar(select(Account.id).where(Account.username_key == key)) is not None
    if taken_by_account or any(identity_key(n) == key for n in session.scalars(select(ApiToken.name))):
        raise Conflict(
            f"令牌名称 {name} 已被使用 / token name {name} is taken by a token or an account (names identify "
            "people; use the existing token or another name)",
            [Problem("duplicate up to width, case and spaces", field="name", value=name)],
        )
    owner_key = None
    if owner is not None:
        account = session.scalar(select(Account).where(Account.username_key == identity_key(owner)))
        if account is None:
            raise NotFound("账户不存在 / no such account", [Problem("not found", field="owner", value=owner[:100])])
        if (account.role, account.unit_id) != (role, unit_id):
            raise ValidationFailed(
                "账户的令牌取账户的角色和单位 / a token of an account has the account's role and unit",
                [Problem(f"the account is {account.role.value}, unit {account.unit_id}", field="role")],
            )
        owner_key = account.username_key
    if role in SCOPED_ROLES and unit_id is None:
        raise Forbidden(f"role {role.value} needs a unit", [Problem("required for scoped roles", field="unit")])
    if unit_id is not None and not unit_exists(session, unit_id):
        raise NotFound("unknown unit", [Problem("no such unit", field="unit", value=unit_id)])
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            token_hash=hash_token(plain),
            prefix=plain[:8],
            role=role,
            unit_id=unit_id,
            expires_at=to_utc(expires_at) if expires_at is not None else None,  # SQLite keeps no offset
            owner_key=owner_key,
        )
    )
    session.flush()
    if ctx is not None:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(plain))).one()
        record_change(session, ctx, TOKEN_KIND, row.id, ChangeAction.CREATE, None, token_snapshot(row), name)
    return plain


TOKEN_KIND = "api_tokens"


def token_snapshot(row: ApiToken) -> dict[str, object]:
    """What the change log keeps of a token: never the token or its hash (the 8-character prefix identifies it)."""
    return {
        "name": row.name,
        "role": row.role.value,
        "unit_id": row.unit_id,
        "owner": row.owner_key,
        "prefix": row.prefix,
        "revoked": bool(row.revoked),
    }


def revoke_token(session: Session, ctx: ChangeContext, name: str) -> bool:
    """Revoke a token by its exact name (audited); False when there is none."""
    row = session.scalars(select(ApiToken).where(ApiToken.name == name)).one_or_none()
    if row is None:
        return False
    before = token_snapshot(row)
    row.revoked = True
    session.flush()
    record_change(session, ctx, TOKEN_KIND, row.id, ChangeAction.UPDATE, before, token_snapshot(row), name, "revoked")
    return True


def unit_exists(session: Session, unit_id: int) -> bool:
    return session.scalar(select(_units().c.id).where(_units().c.id == unit_id)) is not None


def unit_subtree(session: Session, unit_id: int) -> frozenset[int]:
    """The unit and every unit below it (recursive over parent_id)."""
    units = _units()
    tree = select(units.c.id).where(units.c.id == unit_id).cte("tree", recursive=True)
    tree = tree.union_all(select(units.c.id).where(units.c.parent_id == tree.c.id))
    return frozenset(session.scalars(select(tree.c.id)))


_TOKEN_LOOKUP = (
    select(
        ApiToken.name,
        ApiToken.role,
        ApiToken.unit_id,
        ApiToken.expires_at,
        ApiToken.revoked,
        ApiToken.owner_key,
        Account.username.label("account_name"),
        Account.role.label("account_role"),
        Account.unit_id.label("account_unit_id"),
        Account.disabled.label("account_disabled"),
    )
    .outerjoin(Account, Account.username_key == ApiToken.owner_key)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal for a bearer token, or Unauthorized (the token itself is never echoed)."""
    if not token:
        raise Unauthorized(
            "missing bearer token", [Problem("send Authorization: Bearer <token>", field="authorization")]
        )
    # One statement for the token and the account it acts for (plain columns, no ORM objects): every
    # authenticated request runs it, on PostgreSQL one round trip instead of two (docs/LISTS.md, "Speed").
    row = session.execute(_TOKEN_LOOKUP, {"token_hash": hash_token(token)}).one_or_none()
    if row is None or row.revoked:
        raise Unauthorized("invalid or revoked token")
    if row.expires_at is not None:
        exp = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now_utc().tzinfo)
        if exp < now_utc():
            raise Unauthorized("token expired")
    name, role, unit_id = row.name, row.role, row.unit_id
    if row.owner_key is not None:
        if row.account_name is None or row.account_disabled:
            raise Unauthorized("the token's account is disabled or gone")
        name, role, unit_id = row.account_name, row.account_role, row.account_unit_id
    units = unit_subtree(session, unit_id) if role in SCOPED_ROLES and unit_id else None
    return Principal(name=name, role=role, unit_id=unit_id, units=units)
