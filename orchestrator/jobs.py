"""The app's single scheduler (APScheduler 3): persistent jobs on the app database, no overlapping runs.

Add a job with `jobs.add_interval(job_id, func, seconds, jitter)` before the app starts. The job store
keeps only `run_task(<scheduler name>, <job id>)`, so a persisted job finds its function again after a
restart, keeps its next run time when its interval is unchanged, and every run lands in `collector_job_runs`
with its error (redacted) for the API.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from collectors.models import JobRun
from collectors.results import now_utc
from inventory.db import Database
from orchestrator.logs import redact

log = logging.getLogger("yunwang.jobs")
JOBS_TABLE = "apscheduler_jobs"


@dataclass(frozen=True)
class JobOutcome:
    """What a job reports about its run (targets touched, how many failed)."""

    targets: int = 0
    failures: int = 0


Task = Callable[[], JobOutcome | None]
_ACTIVE: dict[str, Jobs] = {}  # persisted jobs name their scheduler; this finds it in this process


def run_task(scheduler_name: str, job_id: str) -> None:
    """Entry point stored in the job store for every job."""
    jobs = _ACTIVE.get(scheduler_name)
    if jobs is None or job_id not in jobs.tasks:
        log.warning("job %s has no task in this process; skipped", job_id)
        return
    jobs.run(job_id, "schedule")


class Jobs:
    """Wraps one BackgroundScheduler; jobs coalesce, never overlap, and misfire within a grace period."""

    def __init__(self, db: Database, name: str = "yunwang", workers: int = 4) -> None:
        self.db = db
        self.name = name
        self.tasks: dict[str, Task] = {}
        self._intervals: dict[str, tuple[int, int]] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename=JOBS_TABLE)},
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            timezone=UTC,
        )

    def add_interval(self, job_id: str, func: Task, seconds: int, jitter: int = 0) -> None:
        """Run `func` every `seconds` (± up to `jitter`); registered now, scheduled when started."""
        self.tasks[job_id] = func
        self._intervals[job_id] = (seconds, jitter)

    def start(self) -> None:
        _ACTIVE[self.name] = self
        self.scheduler.start(paused=True)
        for job_id, (seconds, jitter) in self._intervals.items():
            existing = self.scheduler.get_job(job_id)
            trigger = getattr(existing, "trigger", None)
            if (
                isinstance(trigger, IntervalTrigger)
                and trigger.interval == timedelta(seconds=seconds)
                and (trigger.jitter or 0) == jitter
            ):
                continue  # persisted with the same schedule: keep its next run time
            self.scheduler.add_job(
                run_task,
                "interval",
                args=[self.name, job_id],
                id=job_id,
                name=job_id,
                seconds=seconds,
                jitter=jitter or None,
                replace_existing=True,
            )
        self.scheduler.resume()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _ACTIVE.pop(self.name, None)

    def run(self, job_id: str, trigger: str = "manual") -> JobOutcome | None:
        """Run a job now, recording the run; a second run of a job already running is refused."""
        with self._lock:
            if job_id in self._running:
                log.info("job %s already running; skipped", job_id)
                return None
            self._running.add(job_id)
        with self.db.session() as s:
            run = JobRun(job_id=job_id, trigger=trigger, started_at=now_utc(), targets=0, failures=0)
            s.add(run)
        try:
            outcome = self.tasks[job_id]()
            ok, error = True, None
        except Exception as exc:  # a failing job is recorded and shown, never kills the scheduler
            outcome, ok, error = None, False, f"{type(exc).__name__}: {redact(str(exc))[:300]}"
            log.error("job %s failed: %s", job_id, error)
        finally:
            with self._lock:
                self._running.discard(job_id)
        with self.db.session() as s:
            row = s.get(JobRun, run.id)
            if row is not None:
                row.finished_at, row.ok, row.error = now_utc(), ok, error
                row.targets = outcome.targets if outcome else 0
                row.failures = outcome.failures if outcome else 0
        return outcome

    def describe(self) -> list[dict[str, Any]]:
        """Scheduled jobs with their interval and next run (for the API)."""
        out = []
        for job_id, (seconds, jitter) in sorted(self._intervals.items()):
            job = self.scheduler.get_job(job_id) if self.scheduler.running else None
            out.append(
                {
                    "id": job_id,
                    "interval_seconds": seconds,
                    "jitter_seconds": jitter,
                    "scheduled": job is not None,
                    "next_run_time": job.next_run_time.isoformat() if job and job.next_run_time else None,
                    "running": job_id in self._running,
                }
            )
        return out
