"""Per-process jobs (`Jobs.add_local`, e.g. the rates recompute behind /metrics) keep their pace while another
connection holds SQLite's write lock: the persistent scheduler's loop writes its job store in the app database and
waits for that lock, and the local jobs used to share its loop (found in review: a run started 21 s late)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from core.db import Database
from core.jobs import JobOutcome, Jobs
from orchestrator.app import schema


def test_local_jobs_run_while_the_write_lock_is_held(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    schema.upgrade(url)
    db = Database(url)
    jobs = Jobs(db, name="local-test")
    runs: list[float] = []
    jobs.add_local("tick", lambda: runs.append(time.monotonic()), 0.2)
    jobs.add_interval("persisted", lambda: JobOutcome(), 1)  # due every second: its loop must write the job store
    jobs.start(persistent=True)
    try:
        time.sleep(1.2)
        holder = sqlite3.connect(tmp_path / "jobs.db", timeout=5, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        start = time.monotonic()
        try:
            time.sleep(3.0)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        during = [t for t in runs if start <= t <= start + 3.0]
        # every 0.2 s for 3 s: 15 runs if unhindered; at least 8 leaves room for a loaded machine
        assert len(during) >= 8, f"{len(during)} local runs while the lock was held"
    finally:
        jobs.stop()
        db.dispose()
    assert threading.active_count() < 50
