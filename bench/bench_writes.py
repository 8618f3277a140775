"""Write throughput and latency with 1 / 10 / 30 concurrent HTTP writers, on SQLite and PostgreSQL.

A real server (uvicorn subprocess on 127.0.0.1, the app as deployed) and N writer threads, each with its
own keep-alive client, alternating "create a region" and "rename one shared region" (tests/write_load.py).
Every run also checks what the concurrency test checks: 0 errors, every acknowledged create stored.
Run: `bash bench/run.sh writes` (BENCH_WRITES_SECONDS per run, default 10).
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_inventory import pg_url
from bench.results import percentile, write_section
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from inventory import service
from inventory.models import Region
from orchestrator.app import schema as dbschema
from tests.live_server import LiveServer
from tests.write_load import run_writers

SECONDS = float(os.environ.get("BENCH_WRITES_SECONDS", "10"))
WRITERS = (1, 10, 30)
STORES = os.environ.get("BENCH_WRITES_STORES", "sqlite,postgresql").split(",")


def measure(label: str, url: str, work: Path) -> list[str]:
    rows = []
    for writers in WRITERS:
        dbschema.upgrade(url)
        db = Database(url)
        with db.session() as s:
            token = create_token(s, f"bench-{uuid.uuid4().hex[:6]}", Role.ADMIN)
            shared = service.create(
                s,
                "regions",
                {"code": f"B-{uuid.uuid4().hex[:6]}", "name": "共享", "level": "city"},
                ChangeContext("bench"),
            )
            shared_id = shared.id  # type: ignore[attr-defined]  # service.create returns the kind's row as Base
        server = LiveServer.start(url, work / f"{label}-{writers}")
        try:
            load = os.getloadavg()[0]
            result = run_writers(server.url, token, writers, SECONDS, shared_id=shared_id)
        finally:
            server.stop()
        with db.session() as s:
            stored = set(s.scalars(select(Region.code).where(Region.code.like("LOAD-%"))))
        lost = len(set(result.created) - stored)
        ms = [v * 1000 for v in result.latencies]
        rows.append(
            f"| {label} | {writers} | {result.writes / result.seconds:.0f} | {percentile(ms, 50):.1f} | "
            f"{percentile(ms, 99):.1f} | {result.writes} | {len(result.errors)} | {lost} | {load:.1f} |"
        )
        print(rows[-1], flush=True)
        if result.errors:
            print("  first errors:", result.errors[:3], flush=True)
        with db.session() as s:  # next run starts from an empty LOAD-% set
            s.execute(text("DELETE FROM regions WHERE code LIKE 'LOAD-%'"))
        db.dispose()
    return rows


def main() -> None:
    rows: list[str] = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="yw-bench-writes-") as tmp:
        work = Path(tmp)
        if "sqlite" in STORES:
            rows += measure("SQLite (WAL, BEGIN IMMEDIATE)", f"sqlite:///{work / 'bench.db'}", work)
        base = pg_url() if "postgresql" in STORES else None
        if base:
            name = f"yw_bench_writes_{uuid.uuid4().hex[:8]}"
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                rows += measure("PostgreSQL", base.rsplit("/", 1)[0] + f"/{name}", work)
            finally:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
        else:
            notes.append("PostgreSQL: not available (tests/env/setup-10-postgresql.sh needs root); not measured.")
    body = "\n".join(
        [
            f"Each run: N writer threads for {SECONDS:.0f} s against one uvicorn process (one worker) on 127.0.0.1, "
            "half creates of a new region, half renames of one shared region (every writer contends for that "
            "row). Latency is per acknowledged write, client side. `lost` = acknowledged creates missing from "
            "the database afterwards.",
            "",
            "| store | writers | writes/s | p50 ms | p99 ms | writes | errors | lost | load avg |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            *notes,
        ]
    )
    write_section("writes", "Concurrent writes / 并发写入", body)


if __name__ == "__main__":
    main()
