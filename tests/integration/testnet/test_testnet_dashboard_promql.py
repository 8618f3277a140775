"""Every query of the extranet dashboard is valid PromQL (promtool from Debian's prometheus package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards.grafana.extranet import queries

pytestmark = [pytest.mark.integration]


def test_dashboard_queries_parse(testnet: str, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: tests/env installs Debian's prometheus package as root"
    rules = [
        {"record": f"dashboard:query_{i}:check", "expr": q.replace("$city", ".*")} for i, q in enumerate(queries())
    ]
    f = tmp_path / "extranet-queries.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "extranet-dashboard", "rules": rules}]}))
    r = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
