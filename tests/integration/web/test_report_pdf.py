"""The printable report through Debian's Chromium: `yunwang report preview|download --out FILE.pdf`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.db import Database
from tests import report_inventory

pytestmark = pytest.mark.integration


def test_cli_prints_draft_and_published_reports_to_pdf(
    chromium: str, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.app.cli import app

    with db.session() as s:
        report_inventory.build(s)
    monkeypatch.setenv("YUNWANG_DATABASE_URL", db.url)
    monkeypatch.setenv("YUNWANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PATH", f"{Path(chromium).parent}:{os.environ.get('PATH', '')}")
    runner = CliRunner()
    draft = tmp_path / "draft.pdf"
    r = runner.invoke(app, ["report", "preview", "--month", "2024-02", "--out", str(draft)])
    assert r.exit_code == 0, r.output
    assert draft.read_bytes().startswith(b"%PDF-") and draft.stat().st_size > 10_000
    assert runner.invoke(app, ["report", "publish", "--month", "2024-02"]).exit_code == 0
    frozen = tmp_path / "frozen.pdf"
    r = runner.invoke(app, ["report", "download", "--month", "2024-02", "--out", str(frozen)])
    assert r.exit_code == 0, r.output
    assert frozen.read_bytes().startswith(b"%PDF-")
