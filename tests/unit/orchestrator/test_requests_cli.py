"""`yunwang request …` and `yunwang quota …`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.db import Database
from inventory.models import Unit
from orchestrator.app.cli import app
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


def test_request_show_prints_a_placement_refusal_with_its_reasons(cli_env: World) -> None:
    w = cli_env
    rid = w.create(bundle=w.bundle(servers=20, vcpus=8, ram_mb=8192))["id"]
    w.post("dept", f"{rid}/submit")
    w.post("city_chief", f"{rid}/approve")
    w.post("office", f"{rid}/approve")
    assert w.post("operator", f"{rid}/schedule").status_code == 409
    out = CliRunner().invoke(app, ["request", "show", str(rid)], env={"COLUMNS": "250"})
    assert out.exit_code == 0
    assert "placement_refused" in out.stdout and "not enough free capacity: vcpus 64 < 160" in out.stdout


def test_cloud_resume_and_retire_answer_with_messages_not_tracebacks(
    cli_env: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = cli_env
    clouds = tmp_path / "clouds.yaml"  # never contacted: every answer below comes before any cloud call
    clouds.write_text(
        "clouds:\n  gov-x:\n    auth: {auth_url: 'http://127.0.0.1:9/v3', username: u, password: p}\n"
        "    region_name: gov-x\n"
    )
    monkeypatch.setenv("YUNWANG_CLOUDS_YAML", str(clouds))
    rid = w.create()["id"]
    runner = CliRunner()
    env = {"COLUMNS": "250"}
    out = runner.invoke(app, ["cloud", "resume", str(rid)], env=env)
    assert (out.exit_code == 1 and out.exception is None) or isinstance(out.exception, SystemExit)
    assert "nothing to resume: the request is draft" in out.stdout
    out = runner.invoke(app, ["cloud", "resume", "RR999999"], env=env)
    assert out.exit_code == 1 and "no request 'RR999999'" in out.stdout
    out = runner.invoke(app, ["cloud", "resume", str(rid), "--cloud", "gov-x"], env=env)
    assert out.exit_code == 1 and f"no provisioning run of RR{rid:06d} in cloud gov-x" in out.stdout
    out = runner.invoke(app, ["cloud", "retire", "T-1", "--cloud", "gov-x"], env=env)
    assert out.exit_code == 1 and "no provisioning run of T-1 in cloud gov-x" in out.stdout
    out = runner.invoke(app, ["cloud", "resume", str(rid), "--cloud", "gov-nowhere"], env=env)
    assert out.exit_code == 2 and "no cloud 'gov-nowhere' in clouds.yaml" in out.stdout
