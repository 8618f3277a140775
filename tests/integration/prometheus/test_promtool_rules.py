"""promtool checks the rule files and runs their unit tests; dashboard queries must parse as PromQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from dashboards.grafana import extranet, office
from tests.integration.prometheus.conftest import RULES_DIR


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


def test_rule_files_pass_promtool_check(promtool: str) -> None:
    files = sorted(str(p) for p in RULES_DIR.glob("*.yml"))
    assert len(files) >= 2
    r = run(promtool, "check", "rules", *files)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(files)


def test_rule_unit_tests_pass(promtool: str) -> None:
    tests = sorted(str(p) for p in (RULES_DIR / "tests").glob("*.yml"))
    assert tests
    r = run(promtool, "test", "rules", *tests)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(tests)


def test_a_broken_rule_is_caught(promtool: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": "sum by (("}]}]}))
    assert run(promtool, "check", "rules", str(bad)).returncode != 0


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    rules: list[dict[str, Any]] = []
    for text in [*office.render().values(), extranet.render()]:  # all three dashboards
        for panel in json.loads(text)["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$rate", "systems_migrated").replace("$city", ".*")
                rules.append({"record": f"dashboard:query_{len(rules)}:check", "expr": expr})
    assert len(rules) == 29  # 11 rates + 4 service + 14 extranet panel targets
    f = tmp_path / "dashboard-queries.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))
    r = run(promtool, "check", "rules", str(f))
    assert r.returncode == 0, r.stdout + r.stderr
