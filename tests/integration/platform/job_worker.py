"""One service-like process with the app's scheduler on a shared database (test_job_leases.py).

usage: job_worker.py DB_URL MODE SECONDS
  tick   — job "tick" every 1 s (each run takes 0.3 s), scheduler on for SECONDS
  hourly — job "hourly" every 3600 s (0.2 s per run), scheduler on for SECONDS
  slow   — runs job "slow" (sleeps 60 s) at once; the test kills this process mid-run
Each run records its process id as the run's `targets` (to see which process ran it).
"""

from __future__ import annotations

import logging
import os
import sys
import time

from core.db import Database
from core.jobs import JobOutcome, Jobs


def task(seconds: float):  # type: ignore[no-untyped-def]
    def run() -> JobOutcome:
        time.sleep(seconds)
        return JobOutcome(targets=os.getpid())

    return run


def main() -> None:
    url, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    db = Database(url)
    logging.basicConfig(level=logging.WARNING, format="%(process)d %(name)s %(message)s")
    logging.getLogger("yunwang.jobs").setLevel(logging.INFO)
    jobs = Jobs(db, name="yunwang")  # as in the app: persisted jobs name their scheduler
    if mode == "slow":
        jobs.add_interval("slow", task(60), 3600)
        print("running", flush=True)
        jobs.run("slow", "manual")
        return
    jobs.add_interval(mode, task(0.3 if mode == "tick" else 0.2), 1 if mode == "tick" else 3600)
    jobs.start()
    print("started", flush=True)
    time.sleep(seconds)
    jobs.stop()
    db.dispose()


if __name__ == "__main__":
    main()
