"""Inventory list queries over ~100,000 information systems, through the real app, on SQLite and PostgreSQL.

Loads the demo inventory at a large scale (every row through inventory.service), then times typical
list calls with an unscoped (auditor) and a scoped (department user) token. Run: `bash bench/run.sh inventory`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import percentile, write_section
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from inventory.demo.generator import DEPARTMENT_USER_UNIT, load_demo
from inventory.models import Unit
from orchestrator.app import schema as dbschema
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("BENCH_INVENTORY_SCALE", "33.4"))  # 3,000 systems × scale
REPEAT = int(os.environ.get("BENCH_INVENTORY_REPEAT", "40"))
API = "/api/v1/inventory/systems"


def pg_url() -> str | None:
    """The test PostgreSQL (tests/env), started when it is not running yet."""
    if os.environ.get("YUNWANG_TEST_PG_URL"):
        return os.environ["YUNWANG_TEST_PG_URL"]
    env_file = ROOT / "var" / "test" / "env"
    if not env_file.exists() or "YUNWANG_TEST_PG_URL" not in env_file.read_text():
        env_file.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["bash", "tests/env/setup-10-postgresql.sh"],
            cwd=ROOT,
            env={**os.environ, "YUNWANG_TEST_ENV": str(env_file)},
            check=False,
        )
    for line in env_file.read_text().splitlines() if env_file.exists() else []:
        if line.startswith("YUNWANG_TEST_PG_URL="):
            return line.split("=", 1)[1].strip()
    return None


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_store(label: str, url: str) -> tuple[list[str], str]:
    """Load, then time the list calls; returns table rows and a load line."""
    dbschema.upgrade(url)
    db = Database(url)
    progress_at = [time.perf_counter()]

    def progress(kind: str, n: int) -> None:
        if kind == "systems" and n % 10000 == 0 and time.perf_counter() - progress_at[0] > 5:
            progress_at[0] = time.perf_counter()
            print(f"  {label}: {n} systems", flush=True)

    with db.session() as s:
        load_s, summary = timed(lambda: load_demo(s, ChangeContext(actor="bench"), scale=SCALE, progress=progress))
    rows_total = sum(summary.counts.values())
    load_line = (
        f"{label}: loaded {summary.counts['systems']:,} systems ({rows_total:,} rows of every kind, each with its "
        f"change-log entry) in {load_s:.0f} s ({rows_total / load_s:,.0f} rows/s)"
    )
    print(load_line, flush=True)
    with db.session() as s:
        auditor = create_token(s, "bench-auditor", Role.AUDITOR)
        unit = s.scalar(select(Unit.id).where(Unit.code == DEPARTMENT_USER_UNIT))
        scoped = create_token(s, "bench-dept", Role.DEPARTMENT_USER, unit)
        owner = s.scalar(select(Unit.id).where(Unit.code == "DEMO-R02"))
    settings = Settings(database_url=url, data_dir=Path(tempfile.mkdtemp()), scheduler_enabled=False)
    app = create_app(settings, registry=CollectorRegistry(), database=db)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("first page (limit 50)", auditor, {}),
        ("status=migrated", auditor, {"status": "migrated"}),
        ("owner_unit_id=<公安厅>", auditor, {"owner_unit_id": owner}),
        ("sort=name", auditor, {"sort": "name"}),
        ("sort=-status_changed_at, limit 200", auditor, {"sort": "-status_changed_at", "limit": 200}),
        ("deep offset=90000", auditor, {"offset": 90000}),
        ("q=治安", auditor, {"q": "治安"}),
        ("department user (scoped subtree)", scoped, {}),
    ]
    table: list[str] = []
    with TestClient(app) as client:
        for name, token, params in calls:
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(3):
                client.get(API, params=params, headers=headers)
            samples: list[float] = []
            total = 0
            for _ in range(REPEAT):
                started = time.perf_counter()
                resp = client.get(API, params=params, headers=headers)
                dt = time.perf_counter() - started
                assert resp.status_code == 200, resp.text
                total = resp.json()["total"]
                samples.append(dt * 1000)
            table.append(
                f"| {label} | {name} | {total:,} | {percentile(samples, 50):.1f} | {percentile(samples, 99):.1f} |"
            )
            print(table[-1], flush=True)
    db.dispose()
    return table, load_line


def main() -> None:
    load_before = os.getloadavg()[0]
    rows: list[str] = []
    loads: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        r, line = bench_store("SQLite", f"sqlite:///{tmp}/bench.db")
        rows += r
        loads.append(line)
    pg = pg_url()
    if pg:
        name = f"yw_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            r, line = bench_store("PostgreSQL", pg.rsplit("/", 1)[0] + f"/{name}")
            rows += r
            loads.append(line)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        loads.append("PostgreSQL: not available (tests/env/setup-10-postgresql.sh needs root); not measured")
    body = "\n".join(
        [
            f"Demo inventory at scale {SCALE} loaded through `inventory.service` (batched `create_many`), then "
            f"`GET {API}` through the real app (FastAPI TestClient, auth and JSON included), "
            f"{REPEAT} timed calls each after 3 warm-ups, limit 50 unless stated.",
            "",
            *[f"- {line}" for line in loads],
            f"- 1-minute load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end (other work "
            "shares the 2 cores; p99 mostly reflects that)",
            "",
            "| store | call | matching rows | p50 ms | p99 ms |",
            "|---|---|---:|---:|---:|",
            *rows,
        ]
    )
    write_section("inventory", "Inventory list queries over ~100,000 systems / 清单列表查询", body)


if __name__ == "__main__":
    main()
