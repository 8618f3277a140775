"""`yunwang accounts add|passwd|unlock|disable|list`: local accounts from the command line.

Passwords are read from a hidden prompt (asked twice) or, with `--password-stdin`, from the first line of
standard input — never from the command line, where other users and the shell history would see them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import accounts
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import AppError
from core.models import Account
from core.times import iso
from inventory.models import Unit

CLI = ChangeContext(actor="cli", role=Role.ADMIN.value)
STDIN_HELP = "read the password from the first line of standard input (no prompt)"


def _password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    value: str = typer.prompt("password / 密码", hide_input=True, confirmation_prompt=True)
    return value


def _unit_id(session: Session, code: str | None) -> int | None:
    if not code:
        return None
    unit_id = session.scalar(select(Unit.id).where(Unit.code == code))
    if unit_id is None:
        raise typer.BadParameter(f"unknown unit code {code!r}", param_hint="--unit")
    return unit_id


def _table(db: Database) -> Table:
    table = Table("username", "display name", "role", "unit_id", "source", "locked until", "disabled", "last login")
    with db.read_session() as s:
        for a in s.scalars(select(Account).order_by(Account.username_key)):
            table.add_row(
                a.username,
                a.display_name or "",
                a.role.value,
                str(a.unit_id or ""),
                a.source,
                iso(a.locked_until) if a.locked_until else "",
                str(a.disabled),
                iso(a.last_login_at) if a.last_login_at else "",
            )
    return table


def make_app(database: Callable[[], Database], console: Console) -> typer.Typer:
    app = typer.Typer(help="Accounts that sign in to the console / 登录账户", no_args_is_help=True)

    def run(work: Callable[[Database], str]) -> None:
        db = database()
        try:
            console.print(work(db))
        except AppError as exc:
            console.print(f"[red]{exc.message}[/red]")
            for p in exc.problems:
                console.print(f"  {p.field or ''}: {p.message}")
            raise typer.Exit(2) from None
        finally:
            db.dispose()

    @app.command("add")
    def add(
        username: str,
        role: Role = typer.Option(..., help="role / 角色"),
        unit: str | None = typer.Option(None, help="unit code, required for scoped roles / 单位编码"),
        display_name: str | None = typer.Option(None, help="display name / 姓名"),
        email: str | None = typer.Option(None, help="e-mail for notifications / 邮箱"),
        password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    ) -> None:
        """Create a local account (password: at least 10 characters, not the username)."""
        password = _password(password_stdin)

        def work(db: Database) -> str:
            with db.session() as s:
                new = accounts.NewAccount(username, role, _unit_id(s, unit), display_name, email, password)
                account = accounts.create(s, CLI, new)
                return f"created account {account.username} ({role.value}) / 已创建账户"

        run(work)

    @app.command("passwd")
    def passwd(username: str, password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP)) -> None:
        """Set a new password (ends the account's sessions, lifts a lock)."""
        password = _password(password_stdin)

        def work(db: Database) -> str:
            with db.session() as s:
                accounts.set_password(s, CLI, accounts.require(s, username), password)
            return f"password changed for {username} / 密码已修改"

        run(work)

    @app.command("unlock")
    def unlock(username: str) -> None:
        """Lift a lock-out now."""

        def work(db: Database) -> str:
            with db.session() as s:
                accounts.unlock(s, CLI, accounts.require(s, username))
            return f"unlocked {username} / 已解锁"

        run(work)

    @app.command("disable")
    def disable(username: str, enable: bool = typer.Option(False, "--enable", help="enable again / 重新启用")) -> None:
        """Disable an account (its sessions end), or enable it again with --enable."""

        def work(db: Database) -> str:
            with db.session() as s:
                accounts.update(s, CLI, accounts.require(s, username), disabled=not enable)
            return f"{'enabled' if enable else 'disabled'} {username} / 已{'启用' if enable else '停用'}"

        run(work)

    @app.command("list")
    def list_accounts() -> None:
        """List accounts (never a password or hash)."""
        db = database()
        try:
            console.print(_table(db))
        finally:
            db.dispose()

    return app
