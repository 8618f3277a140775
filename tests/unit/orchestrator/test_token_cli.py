"""`yunwang token create|revoke`: tokens for an account (--owner), every creation and revocation in the change log."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core import accounts
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import authenticate
from core.models import ApiToken, ChangeLog
from inventory.models import Unit
from orchestrator.app import schema as dbschema
from tests.builders import Inv


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    dbschema.upgrade(url)
    monkeypatch.setenv("YUNWANG_DATABASE_URL", url)
    monkeypatch.setenv("YUNWANG_DATA_DIR", str(tmp_path / "data"))
    db = Database(url)
    with db.session() as s:
        unit = Inv(s).basic()["unit"]
        accounts.create(
            s,
            ChangeContext(actor="setup", role="admin"),
            accounts.NewAccount("wang.net", Role.SUB_CLOUD_CHIEF, unit, password="correct horse battery 9"),
        )
    return db


def test_a_token_for_an_account_takes_its_role_and_unit_and_both_steps_are_audited(cli_db: Database) -> None:
    from orchestrator.app.cli import app

    runner = CliRunner()
    made = runner.invoke(app, ["token", "create", "--name", "wang-script", "--owner", "wang.net"])
    assert made.exit_code == 0, made.output
    plain = made.output.strip().splitlines()[-1]
    with cli_db.session() as s:
        p = authenticate(s, plain)
        assert (p.name, p.role) == ("wang.net", Role.SUB_CLOUD_CHIEF) and p.unit_id is not None
    assert runner.invoke(app, ["token", "revoke", "wang-script"]).exit_code == 0
    with cli_db.session() as s:
        rows = s.scalars(select(ChangeLog).where(ChangeLog.kind == "api_tokens").order_by(ChangeLog.id)).all()
        assert [(r.action.value, r.actor) for r in rows] == [
            ("create", f"cli:{getpass.getuser()}"),
            ("update", f"cli:{getpass.getuser()}"),
        ]
        created, revoked = rows[0].after or {}, rows[1].after or {}
        assert created["owner"] == "wang.net" and revoked["revoked"] is True
        assert plain not in str([r.after for r in rows]) and plain[8:] not in str([r.after for r in rows])


def test_owner_with_another_unit_is_refused_and_nothing_is_created(cli_db: Database) -> None:
    from orchestrator.app.cli import app

    with cli_db.session() as s:
        code = s.scalars(select(Unit.code)).first()  # a real unit: refused for being given, not for being unknown
    assert code is not None
    r = CliRunner().invoke(app, ["token", "create", "--name", "w2", "--owner", "wang.net", "--unit", code])
    assert r.exit_code == 2 and "leave" in r.output  # "… leave --unit out" (wrapped in a box)
    with cli_db.session() as s:
        assert s.scalars(select(ApiToken).where(ApiToken.name == "w2")).first() is None
