"""Demo accounts (orchestrator/app/demo_accounts.py): one per role, a new password every run, file 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from core import accounts
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from orchestrator.app import demo_accounts
from tests.builders import Inv


def test_one_account_per_role_reset_each_run(db: Database, tmp_path: Path) -> None:
    with db.session() as s:
        b = Inv(s).basic()
        code = Inv(s).unit(b["region"], code="GX-DEMO-U", name="演示单位")
        assert code
    units = [(Role.ADMIN, None), (Role.DEPARTMENT_USER, "GX-DEMO-U")]
    with db.session() as s:
        first = demo_accounts.issue_accounts(s, units)
    with db.session() as s:
        second = demo_accounts.issue_accounts(s, units)
    assert [a.username for a in second] == ["demo.admin", "demo.department_user"]
    assert second[1].unit_code == "GX-DEMO-U" and second[0].unit_code is None
    ctx = ChangeContext(actor="demo.admin")
    with db.session() as s:
        assert accounts.login(s, ctx, "demo.admin", first[0].password) is None  # the old password is gone
        signed_in = accounts.login(s, ctx, "demo.department_user", second[1].password)
        assert signed_in is not None and signed_in.unit_id is not None
    path = demo_accounts.write_account_file(tmp_path, second)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and lines[2].split("\t")[:3] == ["department_user", "demo.department_user", "GX-DEMO-U"]
