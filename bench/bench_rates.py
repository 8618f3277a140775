"""Rates benchmark: the demo inventory of Guangxi scaled to ~100,000 information systems.

Measures the full recompute behind the exporter (every rate, live tables), the same as of the end of last month
(rebuilt from the change log), `/metrics` scrape time p50/p99 (goal ≤ 50 ms; a scrape runs no query) and the
number of series one scrape returns. SQLite file under var/bench (the embedded default).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from bench.results import summary_ms, write_section
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.models import ChangeLog
from core.wiring import JOBS, services
from dashboards import rates
from dashboards.metrics import RATES_EXPORTER
from inventory.demo.generator import load_demo
from inventory.models import InformationSystem
from orchestrator.app import schema as dbschema
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings

SYSTEMS = int(os.environ.get("YUNWANG_BENCH_SYSTEMS", "100000"))
DEMO_SYSTEMS_AT_SCALE_1 = 3000
SCRAPES, RECOMPUTES, AS_OF_RUNS = 200, 5, 3
DB_PATH = Path("var/bench/rates.db")


def load(url: str) -> tuple[int, int, float]:
    """A fresh database with the scaled demo; returns (systems, change-log rows, load seconds)."""
    dbschema.upgrade(url)
    db = Database(url)
    started = time.perf_counter()
    with db.session() as s:
        load_demo(s, ChangeContext(actor="bench", role="admin"), scale=SYSTEMS / DEMO_SYSTEMS_AT_SCALE_1)
        s.commit()
    took = time.perf_counter() - started
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(InformationSystem)) or 0
        logs = s.scalar(select(func.count()).select_from(ChangeLog)) or 0
    db.dispose()
    return n, logs, took


def main() -> None:
    DB_PATH.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB_PATH}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{DB_PATH}"
    n_systems, n_logs, load_s = load(url)
    print(f"loaded {n_systems} systems, {n_logs} change-log rows in {load_s:.0f} s")

    db = Database(url)
    with db.session() as s:
        token = create_token(s, "bench-prometheus", Role.AUDITOR)
        s.commit()
    settings = Settings(
        database_url=url, data_dir=DB_PATH.parent, scheduler_enabled=False, metrics_recompute_seconds=3600
    )
    app = create_app(settings, registry=CollectorRegistry(), database=db)
    exporter = services(app).get(RATES_EXPORTER)

    recompute = []
    for _ in range(RECOMPUTES):
        t = time.perf_counter()
        snap = exporter.recompute()
        recompute.append(time.perf_counter() - t)
    month_end = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    as_of = []
    with db.session() as s:
        for _ in range(AS_OF_RUNS):
            t = time.perf_counter()
            past = rates.compute_all(s, month_end)
            as_of.append(time.perf_counter() - t)

    scrapes = []
    with TestClient(app) as client:
        services(app).get(JOBS).stop()  # the scheduled first recompute must not overlap the timing
        client.headers["Authorization"] = f"Bearer {token}"
        body = client.get("/metrics").text
        for _ in range(SCRAPES):
            t = time.perf_counter()
            r = client.get("/metrics")
            scrapes.append(time.perf_counter() - t)
            assert r.status_code == 200
    series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    rate_series = sum(1 for line in body.splitlines() if line.startswith("yunwang_rate_"))
    db.dispose()

    overall = snap.reports[rates.RateKey.SYSTEMS_MIGRATED].overall
    lines = [
        f"Inventory: demo of Guangxi at scale {SYSTEMS / DEMO_SYSTEMS_AT_SCALE_1:.1f}: {n_systems:,} systems, "
        f"{n_logs:,} change-log rows, loaded through inventory.service in {load_s:.0f} s.",
        "",
        "| measure | result |",
        "|---|---|",
        f"| full recompute, live tables (5 rates × unit/city/level + metric families) | {summary_ms(recompute)} |",
        f"| full recompute as of {month_end:%Y-%m-%d} (change log, SQL window) | {summary_ms(as_of)} |",
        f"| `/metrics` scrape (HTTP in-process, goal ≤ 50 ms) | {summary_ms(scrapes)} |",
        f"| series per scrape | {series:,} ({rate_series:,} rate series) |",
        "",
        f"Systems migrated now: {overall.numerator:,}/{overall.denominator:,}; as of {month_end:%Y-%m-%d}: "
        f"{past[rates.RateKey.SYSTEMS_MIGRATED].overall.numerator:,}/"
        f"{past[rates.RateKey.SYSTEMS_MIGRATED].overall.denominator:,}.",
    ]
    write_section("rates", "Rates: recompute and /metrics scrape (100,000 systems)", "\n".join(lines))


if __name__ == "__main__":
    main()
