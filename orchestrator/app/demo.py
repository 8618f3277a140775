"""What `yunwang demo` does before serving: reset the store, load the demo inventory, issue one token per role."""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, delete, func, select
from sqlalchemy.orm import Session

from collectors.icmp import can_ping_unprivileged
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import SCOPED_ROLES, create_token
from core.models import ApiToken
from inventory.demo import generator as demo
from inventory.models import Unit
from orchestrator.app.settings import Settings
from orchestrator.provisioning import capacity
from orchestrator.provisioning.clouds import Clouds

TOKEN_FILE = "demo-tokens.txt"
PORT_BUSY_EXIT = 3  # `yunwang demo` exit status when its port is taken (nothing was changed)
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


def port_problem(host: str, port: int) -> str | None:
    """Why the demo could not listen on host:port (a bind test, as uvicorn binds: SO_REUSEADDR), or None when it can.

    Run before anything changes, so a second demo on a busy port neither resets the database nor rotates the
    running demo's tokens."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"无法解析监听地址 / cannot resolve the listen address {host!r}: {exc.strerror}"
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"端口已被占用 / port already in use: {host}:{port}（可能是正在运行的演示 / perhaps a running demo）。"
                    "未做任何更改：数据库与令牌保持原样 / nothing was changed: the database and the tokens are as "
                    "they were. 请用 --port 换一个端口 / choose another port with --port."
                )
            return f"无法监听 / cannot listen on {host}:{port}: {exc.strerror}。未做任何更改 / nothing was changed."
    return None


def configure_demo(s: Settings) -> None:
    """The demo's settings: the in-memory demo cloud when no clouds.yaml is set (with a first capacity sample, so
    requests can be placed at once), and unprivileged ICMP when not root but the kernel allows it."""
    if s.clouds_yaml is None:
        s.demo_cloud = True
        db = Database(s.database_url)
        try:
            capacity.sweep(db, Clouds.in_memory_demo().drivers)
        finally:
            db.dispose()
    if os.geteuid() != 0 and can_ping_unprivileged():
        s.collector_icmp_privileged = False


def demo_cloud_line() -> str:
    """One line naming the simulated clouds, for the console."""
    c = Clouds.in_memory_demo()
    return f"{c.label}: {', '.join(c.names())} (reset at restart / 重启即清空; --with-cloud: the local OpenStack)"
