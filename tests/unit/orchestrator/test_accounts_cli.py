"""`yunwang accounts …`: the password comes from stdin or a hidden prompt, never argv, and is never printed."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core.db import Database
from core.models import Account, ChangeLog
from orchestrator.app import cli
from orchestrator.app.cli import app
from tests.builders import Inv

PW = "cli passphrase 2026"


@pytest.fixture
def runner(db: Database, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("YUNWANG_DATABASE_URL", db.url)
    monkeypatch.setattr(cli.console, "width", 200)  # the shared console: wide enough for the table's rows
    return CliRunner()


def test_add_passwd_disable_unlock_list(runner: CliRunner, db: Database) -> None:
    with db.session() as s:
        unit_code = "GX-CLI-UNIT"
        b = Inv(s).basic()
        Inv(s).unit(b["region"], code=unit_code, name="命令行单位")
    env = {"COLUMNS": "200"}
    out = runner.invoke(
        app,
        ["accounts", "add", "huang.li", "--role", "department_user", "--unit", unit_code, "--password-stdin"],
        input=PW + "\n",
        env=env,
    )
    assert out.exit_code == 0, out.output
    assert PW not in out.output
    short = runner.invoke(app, ["accounts", "passwd", "huang.li", "--password-stdin"], input="short\n", env=env)
    assert short.exit_code == 2 and "at least 10" in short.output
    assert runner.invoke(app, ["accounts", "passwd", "huang.li"], input="another passphrase\n", env=env).exit_code == 0
    assert runner.invoke(app, ["accounts", "disable", "huang.li"], env=env).exit_code == 0
    with db.session() as s:
        a = s.scalar(select(Account).where(Account.username == "huang.li"))
        assert a is not None and a.disabled and a.unit_id is not None
        a.failed_logins = 5
    assert runner.invoke(app, ["accounts", "unlock", "huang.li"], env=env).exit_code == 0
    listed = runner.invoke(app, ["accounts", "list"], env=env)
    assert "huang.li" in listed.output and "department_user" in listed.output and "argon2" not in listed.output
    missing = runner.invoke(app, ["accounts", "unlock", "nobody"], env=env)
    assert missing.exit_code == 2
    with db.session() as s:
        actors = [e.actor for e in s.scalars(select(ChangeLog).where(ChangeLog.kind == "accounts"))]
    assert actors == ["cli"] * 4  # add, passwd, disable, unlock


def test_no_password_option_exists(runner: CliRunner) -> None:
    out = runner.invoke(app, ["accounts", "add", "x.y", "--role", "auditor", "--password", PW])
    assert out.exit_code != 0 and "No such option" in out.output
