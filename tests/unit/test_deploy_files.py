"""deploy/: the systemd units call commands and options the CLI has, the env example names only real settings, and
the nginx site keeps the app's body caps and retries idempotent methods only (docs/deploy.md)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from core.validation import MAX_BODY_BYTES
from orchestrator.app.cli import app
from orchestrator.app.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _exec_starts(unit: Path) -> list[list[str]]:
    return [
        shlex.split(line.split("=", 1)[1]) for line in unit.read_text().splitlines() if line.startswith("ExecStart=")
    ]


def test_there_are_the_five_units() -> None:
    names = [u.name for u in UNITS]
    assert names == [
        "yunwang-api@.service",
        "yunwang-migrate.service",
        "yunwang-vantage@.service",
        "yunwang-worker@.service",
    ]
    assert (DEPLOY / "systemd" / "yunwang.target").is_file()


def test_every_unit_runs_a_command_and_options_the_cli_has() -> None:
    root = typer.main.get_command(app)
    seen = []
    for unit in UNITS:
        for argv in _exec_starts(unit):
            assert argv[0] == "/opt/yunwang/.venv/bin/yunwang", unit.name
            args = [a.replace("%i", "8081") for a in argv[1:]]
            cmd: Any = root
            name = ""
            while hasattr(cmd, "commands"):  # a group (typer's own click): down to the command
                assert args[0] in cmd.commands, (unit.name, args)
                cmd, name, args = cmd.commands[args[0]], args[0], args[1:]
            cmd.make_context(name, list(args))  # raises on an unknown option or a bad value
            seen.append((unit.name, name))
    assert sorted(seen) == [
        ("yunwang-api@.service", "serve"),
        ("yunwang-migrate.service", "upgrade"),
        ("yunwang-vantage@.service", "worker"),
        ("yunwang-worker@.service", "worker"),
    ]


def test_units_read_the_two_settings_files_and_workers_run_no_scheduler() -> None:
    for unit in UNITS:
        text = unit.read_text()
        assert "EnvironmentFile=/etc/yunwang/yunwang.env\n" in text, unit.name
        assert "EnvironmentFile=-/etc/yunwang/secrets.env\n" in text, unit.name
        if "worker" in unit.name or "vantage" in unit.name:
            assert "Environment=YUNWANG_SCHEDULER_ENABLED=false\n" in text, unit.name
    assert "--no-upgrade" in (DEPLOY / "systemd" / "yunwang-api@.service").read_text()


def test_the_env_example_names_only_settings_and_holds_no_secret() -> None:
    fields = {f"YUNWANG_{name.upper()}" for name in Settings.model_fields}
    keys = [line.split("=", 1)[0] for line in (DEPLOY / "yunwang.env.example").read_text().splitlines()]
    keys = [k for k in keys if k and not k.startswith("#")]
    assert sorted(k for k in keys if k.startswith("YUNWANG_") and k not in fields) == []
    assert "YUNWANG_DATABASE_URL" in keys and "YUNWANG_BROKER_URL" not in keys  # the broker URL holds a password
    text = (DEPLOY / "yunwang.env.example").read_text()
    assert not re.search(r"^[^#]*://[^/@\s]+:[^/@\s]+@", text, re.M)  # no user:password@ outside comments
    assert "YUNWANG_SECRET_KEY=" not in text


def test_nginx_caps_bodies_like_the_app_and_retries_idempotent_methods_only() -> None:
    conf = (DEPLOY / "nginx" / "yunwang.conf").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    sizes = re.findall(r"client_max_body_size (\d+)m;", code)
    assert sizes == ["16", "21"]
    assert int(sizes[0]) * 1024 * 1024 == MAX_BODY_BYTES  # 16 MiB, the app's JSON/form cap
    assert int(sizes[1]) * 1024 * 1024 > Settings().max_upload_bytes  # imports: 20 MiB plus the multipart envelope
    assert re.findall(r"proxy_next_upstream ([^;]+);", code) == ["error timeout http_502 http_503"]
    assert "non_idempotent" not in code
    assert re.findall(r"server 127\.0\.0\.1:(\d+) max_fails=3 fail_timeout=10s;", code) == ["8081", "8082"]
    assert "location = /metrics" in code and "return 403;" in code


def test_the_env_example_sets_nothing_a_unit_sets_for_itself() -> None:
    # systemd lets EnvironmentFile= override Environment=: a key in both would beat the unit's own value (a vantage
    # worker recording its results as another vantage's)
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "yunwang.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    per_unit = {
        line.removeprefix("Environment=").split("=", 1)[0]
        for unit in (DEPLOY / "systemd").glob("*.service")
        for line in unit.read_text().splitlines()
        if line.startswith("Environment=")
    }
    assert per_unit >= {"YUNWANG_DATA_DIR", "YUNWANG_SCHEDULER_ENABLED", "YUNWANG_COLLECTOR_VANTAGE"}
    assert example & per_unit == set()


def test_the_test_nginx_site_is_the_deployed_one_with_both_upstream_ports_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.live_nginx import nginx_site

    site = nginx_site((40001, 40002), 40003)
    assert "server 127.0.0.1:40001 " in site and "server 127.0.0.1:40002 " in site and "listen 127.0.0.1:40003;" in site
    assert re.findall(r"server 127\.0\.0\.1:(\d+)", site) == ["40001", "40002"]
    # a deployed file whose first upstream line is written differently must not leave that line pointing at 8081
    real = Path.read_text
    odd = (DEPLOY / "nginx" / "yunwang.conf").read_text().replace("server 127.0.0.1:8081 ", "server 127.0.0.1:8081;")
    monkeypatch.setattr(
        Path, "read_text", lambda self, *a, **k: odd if self.name == "yunwang.conf" else real(self, *a, **k)
    )
    with pytest.raises(AssertionError, match="not both replaced"):
        nginx_site((40001, 40002), 40003)
