"""A real Prometheus scrapes a real yunwang (uvicorn, SQLite with the known inventory) with the rule files.

The scraped series and the recording rules must equal the rate engine's figures (and the hand count of
tests/known_rates.py); a scrape with a wrong token must fail (up == 0); rates below target alert (pending).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from core.db import Database
from core.enums import Role
from core.identity import create_token
from dashboards import rates
from dashboards.grafana import extranet, office
from dashboards.rates import HEADLINE_KEYS
from orchestrator.app import schema as dbschema
from tests import known_rates
from tests.integration.prometheus.conftest import ROOT, RULES_DIR, free_port, wait_for

pytestmark = pytest.mark.integration


def query(base: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def by_label(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {s["metric"].get(label, ""): float(s["value"][1]) for s in result}


def test_prometheus_scrapes_rates_and_records_rollups(
    prometheus_bin: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    url = f"sqlite:///{tmp_path / 'yunwang.db'}"
    dbschema.upgrade(url)
    db = Database(url)
    with db.session() as s:
        known_rates.build(s)
        token = create_token(s, "prometheus", Role.AUDITOR)
        s.commit()
    with db.session() as s:
        expected = rates.compute_all(s)
    db.dispose()
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    bad_token_file = tmp_path / "bad-token"
    bad_token_file.write_text("yw_not-a-real-token")

    app_port, prom_port = free_port(), free_port()
    env = {
        **os.environ,
        "YUNWANG_DATABASE_URL": url,
        "YUNWANG_DATA_DIR": str(tmp_path / "data"),
        "YUNWANG_SCHEDULER_ENABLED": "false",
        "YUNWANG_METRICS_RECOMPUTE_SECONDS": "1",
    }
    app_log = (tmp_path / "app.log").open("wb")
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "orchestrator.app.factory:create_app", "--factory", "--port", str(app_port)],
        cwd=ROOT,
        env=env,
        stdout=app_log,
        stderr=subprocess.STDOUT,
    )
    started.append(app)
    app_base = f"http://127.0.0.1:{app_port}"
    wait_for(lambda: httpx.get(f"{app_base}/healthz", timeout=2).status_code == 200, 60, "yunwang", app)
    assert httpx.get(f"{app_base}/metrics", timeout=5).status_code == 401

    target = f"127.0.0.1:{app_port}"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted(RULES_DIR.glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "yunwang",
                "metrics_path": "/metrics",
                "authorization": {"credentials_file": str(token_file)},
                "static_configs": [{"targets": [target]}],
            },
            {
                "job_name": "yunwang-badtoken",
                "metrics_path": "/metrics",
                "authorization": {"credentials_file": str(bad_token_file)},
                "static_configs": [{"targets": [target]}],
            },
        ],
    }
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config))
    prom_log = (tmp_path / "prometheus.log").open("wb")
    prom = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=prom_log,
        stderr=subprocess.STDOUT,
    )
    started.append(prom)
    base = f"http://127.0.0.1:{prom_port}"
    wait_for(lambda: httpx.get(f"{base}/-/ready", timeout=2).status_code == 200, 60, "prometheus", prom)
    wait_for(
        lambda: (
            # the five headline rates (consolidation figures with no items, e.g. no exits here, have no ratio)
            {r["metric"]["rate"] for r in query(base, "yunwang:rate:ratio")} >= {k.value for k in HEADLINE_KEYS}
            and len(query(base, 'up{job="yunwang-badtoken"}')) == 1
            and len(query(base, "yunwang:rate_by_city:ratio")) > 0
        ),
        90,
        "scrapes and recording rules",
        prom,
    )

    assert by_label(query(base, "up"), "job") == {"yunwang": 1.0, "yunwang-badtoken": 0.0}
    overall = by_label(query(base, "yunwang:rate:ratio"), "rate")
    for key, report in expected.items():
        assert overall[key.value] == pytest.approx(report.overall.ratio)
    # and the hand count of tests/known_rates.py
    assert overall["systems_migrated"] == pytest.approx(5 / 7)
    assert overall["cloud_network_utilisation"] == pytest.approx(7 / 11)
    assert overall["horizontal_access"] == pytest.approx(0.5)

    for dimension, rule in (("city", "yunwang:rate_by_city:ratio"), ("level", "yunwang:rate_by_level:ratio")):
        for key, report in expected.items():
            got = by_label(query(base, f'{rule}{{rate="{key.value}"}}'), dimension)
            want = {b.key: b.rate.ratio for b in report.by(dimension) if b.rate.ratio is not None}
            assert got == pytest.approx(want), (key, dimension)

    gu = query(base, 'yunwang_rate_denominator_items{job="yunwang",rate="systems_migrated",unit="GU"}')
    assert [s["metric"]["city"] for s in gu] == ["450300"] and float(gu[0]["value"][1]) == 1
    excluded = {
        (s["metric"]["rate"], s["metric"]["reason"]): float(s["value"][1])
        for s in query(base, "yunwang:rate_excluded_items:sum")
    }
    for key, report in expected.items():
        for reason, n in report.excluded_counts.items():
            assert excluded.get((key.value, reason), 0.0) == n
    targets = by_label(query(base, "yunwang_rate_target_ratio"), "rate")
    assert targets == {k.value: r.overall.target for k, r in expected.items()}

    # rates below their target are pending (the rule waits an hour before firing)
    def pending() -> set[str]:
        alerts = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return {a["labels"]["rate"] for a in alerts if a["labels"]["alertname"] == "YunwangRateBelowTarget"}

    below = {
        k.value
        for k, r in expected.items()
        if r.overall.ratio is not None and r.overall.ratio < (r.overall.target or 0)
    }
    assert below
    wait_for(lambda: pending() == below, 30, "below-target alerts", prom)
    age = query(base, 'time() - yunwang_rates_last_success_timestamp_seconds{job="yunwang"}')
    assert 0 <= float(age[0]["value"][1]) < 60

    # every panel query of the three shipped dashboards runs on this Prometheus without error; those of the rates
    # and service dashboards show data from this real yunwang (the extranet ones need probe results: none here)
    texts = {**office.render(), "yunwang-extranet.json": extranet.render()}
    for name, text in texts.items():
        for panel in json.loads(text)["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$rate", "systems_migrated").replace("$city", ".*")
                result = query(base, expr)  # raises unless status == success
                if name != "yunwang-extranet.json":
                    assert result, (name, panel["title"], expr)
