"""What `yunwang demo` does before serving: reset the store, load the demo inventory, issue one token per role."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, delete, func, select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import SCOPED_ROLES, create_token
from core.models import ApiToken
from inventory.demo import generator as demo
from inventory.models import Unit

TOKEN_FILE = "demo-tokens.txt"
# The unit each role's demo token is bound to (scoped roles must have one; the office gets its bureau).
TOKEN_UNITS: dict[Role, str] = {
    Role.SUB_CLOUD_CHIEF: demo.SUB_CLOUD_CHIEF_UNIT,
    Role.DEPARTMENT_USER: demo.DEPARTMENT_USER_UNIT,
    Role.CLOUD_CHIEF_OFFICE: demo.CLOUD_CHIEF_OFFICE_UNIT,
}


@dataclass(frozen=True)
class DemoToken:
    """A demo token as written to the token file (the plain token is only in that file)."""

    role: Role
    name: str
    unit_code: str | None
    token: str


def reset_database(url: str) -> None:
    """Drop every table (including alembic's version table) so the schema can be rebuilt from scratch."""
    database = Database(url)
    try:
        meta = MetaData()
        meta.reflect(database.engine)
        meta.drop_all(database.engine)
    finally:
        database.dispose()


def has_units(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Unit)) or 0) > 0


def load(session: Session, scale: float) -> demo.DemoSummary:
    """Load the demo inventory as the `demo` actor."""
    ctx = ChangeContext(actor="demo-loader", role=Role.ADMIN.value, message="演示数据 / demo data")
    return demo.load_demo(session, ctx, scale=scale)


def issue_tokens(session: Session) -> list[DemoToken]:
    """Replace the `demo-<role>` tokens with fresh ones (only hashes are stored, so old ones cannot be shown again)."""
    session.execute(delete(ApiToken).where(ApiToken.name.in_([f"demo-{r.value}" for r in Role])))
    wanted = select(Unit.code, Unit.id).where(Unit.code.in_(list(TOKEN_UNITS.values())))
    units: dict[str, int] = {code: uid for code, uid in session.execute(wanted)}
    fallback = session.scalar(select(Unit.code).order_by(Unit.id).limit(1))
    out: list[DemoToken] = []
    for role in Role:
        code = TOKEN_UNITS.get(role)
        if code is not None and code not in units and role in SCOPED_ROLES and fallback is not None:
            code = fallback
            units[code] = session.scalar(select(Unit.id).where(Unit.code == code)) or 0
        unit_id = units.get(code) if code else None
        name = f"demo-{role.value}"
        out.append(DemoToken(role, name, code if unit_id else None, create_token(session, name, role, unit_id)))
    return out


def write_token_file(data_dir: Path, tokens: list[DemoToken]) -> Path:
    """Write `role<TAB>name<TAB>unit<TAB>token` lines to <data_dir>/demo-tokens.txt, readable by the owner only."""
    path = data_dir / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# yunwang demo tokens / 演示令牌 (demo data only): role\tname\tunit\ttoken\n")
        for t in tokens:
            fh.write(f"{t.role.value}\t{t.name}\t{t.unit_code or '-'}\t{t.token}\n")
    return path
