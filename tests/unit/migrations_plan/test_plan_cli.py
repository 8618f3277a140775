"""`yunwang plan …` commands over a small inventory (typer's runner, the test database)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.db import Database
from migrations_plan.cli import make_app
from migrations_plan.models import WavePlan
from tests.builders import Inv


def test_plan_commands(db: Database, tmp_path: Path) -> None:
    with db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        a = inv.system(b["unit"], room_id=b["room"], code="CLI-A", vcpus=2, memory_gb=4)
        inv.system(b["unit"], room_id=b["room"], code="CLI-B", vcpus=2, memory_gb=4, depends_on_ids=[a])
        inv.system(b["unit"], room_id=b["room"], code="CLI-Z", business_active=False, replaced_by_id=a)
        inv.system(b["unit"], room_id=b["room"], code="CLI-S", classified=True)
    app = make_app(lambda: db)
    runner = CliRunner()
    r = runner.invoke(app, ["assess"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert (
        "CLI-S" in r.output and "out_of_scope: 1" in r.output and "ready: 2" in r.output and "needs_work: 1" in r.output
    )
    r = runner.invoke(app, ["zombies", "--on", date(2024, 6, 30).isoformat()], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "CLI-Z" in r.output and "1 个候选" in r.output
    r = runner.invoke(app, ["waves", "--max-wave-size", "1", "--save"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "批次 waves: 3" in r.output
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(WavePlan)) == 1
    out = tmp_path / "plan.xlsx"
    r = runner.invoke(app, ["export", "--plan-id", "1", "-o", str(out)])
    assert r.exit_code == 0, r.output
    codes = [row[2] for row in load_workbook(out)["迁移批次 Waves"].iter_rows(min_row=2, values_only=True)]
    assert codes == ["CLI-A", "CLI-Z", "CLI-B"]
    r = runner.invoke(app, ["lookback"])
    assert r.exit_code == 0 and "0 项发现" in r.output
