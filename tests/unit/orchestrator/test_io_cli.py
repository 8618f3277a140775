"""`yunwang import / export / template` against a real SQLite database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.db import Database
from core.models import ChangeLog
from inventory.models import Unit
from orchestrator.app.cli import app
from tests.builders import Inv

runner = CliRunner()


@pytest.fixture
def region_code(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("YUNWANG_DATABASE_URL", db.url)
    monkeypatch.setenv("YUNWANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    with db.session() as s:
        Inv(s).region(code="450000", name="广西壮族自治区")
    return "450000"


def units(db: Database) -> tuple[int, int]:
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Unit)) or 0,
            s.scalar(select(func.count()).select_from(ChangeLog)) or 0,
        )


def test_cli_dry_run_then_import_then_export_round_trip(db: Database, region_code: str, tmp_path: Path) -> None:
    src = tmp_path / "units.csv"
    src.write_text(
        f"单位编码,单位名称,层级,上级单位编码,所在区划代码\nU2,南宁局,city,U1,{region_code}\nU1,大数据局,region,,{region_code}\n",
        encoding="utf-8",
    )
    before = units(db)
    dry = runner.invoke(app, ["import", "units", str(src), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "create 新建 2" in dry.output and units(db) == before
    done = runner.invoke(app, ["import", "units", str(src), "--actor", "张三", "-m", "清查"])
    assert done.exit_code == 0, done.output
    assert units(db) == (before[0] + 2, before[1] + 2)
    with db.session() as s:
        assert s.scalars(select(ChangeLog.actor).where(ChangeLog.object_code == "U1")).one() == "张三"
    out = tmp_path / "out.xlsx"
    assert runner.invoke(app, ["export", "units", str(out)]).exit_code == 0
    again = runner.invoke(app, ["import", "units", str(out), "--dry-run"])
    assert again.exit_code == 0 and "unchanged 不变 2" in again.output


def test_cli_import_with_errors_exits_1_and_writes_nothing(db: Database, region_code: str, tmp_path: Path) -> None:
    src = tmp_path / "units.csv"
    src.write_text(f"单位编码,单位名称,层级,所在区划代码\nOK,好,region,{region_code}\nBAD,坏,planet,{region_code}\n")
    before = units(db)
    result = runner.invoke(app, ["import", "units", str(src)])
    assert result.exit_code == 1
    assert "row 3" in result.output and "planet" in result.output
    assert units(db) == before
    bad = tmp_path / "bad.csv"
    bad.write_bytes("单位编码\n".encode() + "南宁".encode("gbk"))
    assert runner.invoke(app, ["import", "units", str(bad)]).exit_code == 1


def test_cli_template(tmp_path: Path, region_code: str) -> None:
    target = tmp_path / "t.csv"
    assert runner.invoke(app, ["template", "systems", str(target)]).exit_code == 0
    assert target.read_text(encoding="utf-8-sig").startswith("系统编码,系统名称")
    assert runner.invoke(app, ["template", "nothing", str(target)]).exit_code != 0


def test_cli_history_since_back_dates_the_creation(db: Database, region_code: str, tmp_path: Path) -> None:
    """Units have no status date: with --history-since (Beijing time) they are on record from then."""
    src = tmp_path / "units.csv"
    src.write_text(f"标题：单位清单\n单位编码,单位名称,层级,所在区划代码\nU7,局,区级,{region_code}\n", encoding="utf-8")
    done = runner.invoke(app, ["import", "units", str(src), "--history-since", "2020年1月1日"])
    assert done.exit_code == 0, done.output
    assert "第2行作为表头" in done.output
    with db.session() as s:
        at = s.scalars(select(ChangeLog.at).where(ChangeLog.object_code == "U7")).one()
        assert at.replace(tzinfo=at.tzinfo or UTC) == datetime(2019, 12, 31, 16, tzinfo=UTC)
    bad = runner.invoke(app, ["import", "units", str(src), "--history-since", "去年"])
    assert bad.exit_code == 2
