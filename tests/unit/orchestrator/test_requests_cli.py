"""`yunwang request …` and `yunwang quota …`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from inventory.db import Database
from inventory.models import Unit
from orchestrator.cli import app
from tests.unit.orchestrator.conftest import World


@pytest.fixture
def cli_env(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("YUNWANG_DATABASE_URL", world.db.url)
    return world


def codes(db: Database, *ids: int) -> list[str]:
    with db.session() as s:
        return [s.get(Unit, i).code for i in ids]  # type: ignore[union-attr]


def test_request_list_and_show_print_state_placement_and_events(cli_env: World) -> None:
    w = cli_env
    rid = w.create()["id"]
    w.post("dept", f"{rid}/submit")  # auto-approved
    w.post("operator", f"{rid}/schedule")
    runner = CliRunner()
    out = runner.invoke(app, ["request", "list"], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "RR" in out.stdout and "scheduled" in out.stdout
    out = runner.invoke(app, ["request", "show", str(rid)], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "auto_approved" in out.stdout and '"primary"' in out.stdout
    assert runner.invoke(app, ["request", "show", "999"]).exit_code == 1


def test_quota_set_enforces_the_hierarchy(cli_env: World) -> None:
    w = cli_env
    city, county = codes(w.db, w.ids["city_unit"], w.ids["county_unit"])
    runner = CliRunner()
    assert runner.invoke(app, ["quota", "set", city, "--vcpus", "10"]).exit_code == 0
    bad = runner.invoke(app, ["quota", "set", county, "--vcpus", "11"], env={"COLUMNS": "200"})
    assert bad.exit_code == 1 and "parent" in bad.stdout
    ok = runner.invoke(app, ["quota", "show", county], env={"COLUMNS": "200"})
    assert ok.exit_code == 0 and "'vcpus': 10" in ok.stdout
