"""One demo account per role (`demo.<role>`, 演示账户) so the console's sign-in form works on the demo.

Each run gives every demo account a fresh random password (only its argon2id hash is stored) and writes
`role<TAB>username<TAB>unit<TAB>password` lines to `<data_dir>/demo-accounts.txt`, readable by the owner only,
as the demo tokens are. The accounts take the unit of the role's demo token (`orchestrator.app.demo.issue_tokens`),
and each demo token then acts as its role's account: one person per role, whether they sign in with the password or
the token (segregation of duties sees one name).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import accounts
from core.audit import ChangeContext
from core.enums import Role
from core.identity import identity_key
from core.models import ApiToken
from inventory.models import Unit

ACCOUNT_FILE = "demo-accounts.txt"
DEMO = ChangeContext(actor="system:demo", role=Role.ADMIN.value, message="demo account / 演示账户")


@dataclass(frozen=True)
class DemoAccount:
    role: Role
    username: str
    unit_code: str | None
    password: str


def issue_accounts(session: Session, units: Iterable[tuple[Role, str | None]]) -> list[DemoAccount]:
    """Create or reset `demo.<role>` for each (role, unit code) with a new random password."""
    out: list[DemoAccount] = []
    for role, code in units:
        username = f"demo.{role.value}"
        password = secrets.token_urlsafe(12)
        unit_id = session.scalar(select(Unit.id).where(Unit.code == code)) if code else None
        account = accounts.find(session, username)
        if account is None:
            new = accounts.NewAccount(
                username, role, unit_id, display_name=f"演示 demo {role.value}", password=password
            )
            accounts.create(session, DEMO, new)
        else:
            if (account.role, account.unit_id, account.disabled) != (role, unit_id, False):
                accounts.update(session, DEMO, account, role=role, unit_id=unit_id, disabled=False)
            accounts.set_password(session, DEMO, account, password)
        out.append(DemoAccount(role, username, code if unit_id else None, password))
        session.execute(
            update(ApiToken).where(ApiToken.name == f"demo-{role.value}").values(owner_key=identity_key(username))
        )
    return out


def write_account_file(data_dir: Path, issued: list[DemoAccount]) -> Path:
    path = data_dir / ACCOUNT_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# yunwang demo accounts / 演示账户 (demo data only): role\tusername\tunit\tpassword\n")
        for a in issued:
            fh.write(f"{a.role.value}\t{a.username}\t{a.unit_code or '-'}\t{a.password}\n")
    return path
