"""The app's single scheduler (APScheduler 3): persistent jobs on the app database, no overlapping runs.

Several service processes may share one database (and so the APScheduler job store): each fires every
job. A run starts only after taking the job's lease row (`job_leases`) in a write transaction (SQLite:
BEGIN IMMEDIATE; PostgreSQL: SELECT … FOR UPDATE), so one process runs it; a second firing of the same
slot (another process, or a catch-up after downtime) within half an interval of the last start is
skipped. The holder renews the lease every third of `lease_seconds` while the job runs. A run whose holder
died is handed over: the next firing in any process finds the lease of a process of this host that is gone (at
once) or a lease that expired (another host: within `lease_seconds`), marks that run abandoned and runs the job;
a service starting marks every such run abandoned too (`mark_abandoned`). See docs/replicas.md.

The same lease rows guard other work that must have one driver at a time across processes (`hold(db, key)`: a
provisioning run, keyed `provision:<request>@<cloud>`): the holder renews it, a second caller waits until it is
released or its holder died, and `lease_state(db, key)` tells whether the work's process is alive (the
provisioning auto-resume job, orchestrator/requests/auto_resume.py).

A per-process job (`jobs.add_local(job_id, func, seconds)`: a cache every process keeps for itself, like the
rates snapshot behind `/metrics`) runs in every process on a second, in-memory scheduler (`local_scheduler`, so a
held SQLite write lock on the job store cannot delay it), first at start, without lease or run record (it reports
its own health in its metrics), and also when the persistent jobs are disabled.

Add a job with `jobs.add_interval(job_id, func, seconds, jitter)` before the app starts. The job store
keeps only `run_task(<scheduler name>, <job id>)`, so a persisted job finds its function again after a
restart, keeps its next run time when its interval is unchanged, and every run lands in `collector_job_runs`
with its error (redacted) for the API.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from core.db import Database
from core.models import JobLease, JobRun
from core.redaction import redact
from core.times import now_utc

log = logging.getLogger("yunwang.jobs")
JOBS_TABLE = "apscheduler_jobs"
LEASE_SECONDS = 60  # renewed every third of it while the job runs


def _host_id() -> str:
    """This host as holders name it: the host name and the pid namespace (containers sharing a host name, such as
    `network_mode: host`, have their own process ids: a pid is only checked inside its own namespace)."""
    try:
        ns = f"~{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        ns = ""
    return f"{socket.gethostname()[:80]}{ns}"


HOST_ID = _host_id()
HOLDER = f"{HOST_ID}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
ABANDONED = "abandoned: the process running it stopped / 运行中断（进程已停止）"


@dataclass(frozen=True)
class JobOutcome:
    """What a job reports about its run (targets touched, how many failed)."""

    targets: int = 0
    failures: int = 0


Task = Callable[[], JobOutcome | None]
_ACTIVE: dict[str, Jobs] = {}  # persisted jobs name their scheduler; this finds it in this process


def run_task(scheduler_name: str, job_id: str) -> None:
    """Entry point stored in the job store for every job."""
    jobs = _ACTIVE.get(scheduler_name) or next((j for j in _ACTIVE.values() if job_id in j.tasks), None)
    if jobs is None or job_id not in jobs.tasks:
        log.warning("job %s has no task in this process; skipped", job_id)
        return
    jobs.run(job_id, "schedule")


class Jobs:
    """The persistent scheduler and the per-process one; jobs coalesce, never overlap, and run once after downtime."""

    def __init__(
        self, db: Database, name: str = "yunwang", workers: int = 4, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.db = db
        self.name = name
        self.lease_seconds = lease_seconds  # a dead holder on another host is handed over after this long
        self.tasks: dict[str, Task] = {}
        self._intervals: dict[str, tuple[int, int]] = {}
        self._ready: dict[str, Callable[[], bool]] = {}
        self._local: dict[str, tuple[Callable[[], object], float]] = {}
        self._store_removed = False
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._store = SQLAlchemyJobStore(engine=db.engine, tablename=JOBS_TABLE)
        # After downtime a missed job runs once (coalesced, however late), never once per missed slot.
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        self.scheduler = BackgroundScheduler(
            jobstores={"default": self._store},
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults=defaults,
            timezone=UTC,
        )
        # Per-process jobs (add_local) get their own in-memory scheduler: the persistent scheduler's loop writes its
        # job store in the app database, and a long SQLite write would otherwise delay them (a stale /metrics).
        self.local_scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults=defaults,
            timezone=UTC,
        )

    def add_interval(
        self, job_id: str, func: Task, seconds: int, jitter: int = 0, ready: Callable[[], bool] | None = None
    ) -> None:
        """Run `func` every `seconds` (± up to `jitter`); registered now, scheduled when started.

        `ready`: what the job needs is reachable from this process (e.g. the task broker); while it says no, this
        process does not take the job's slot (no lease, no run), so another replica that can takes it."""
        self.tasks[job_id] = func
        self._intervals[job_id] = (seconds, jitter)
        if ready is not None:
            self._ready[job_id] = ready

    def add_local(self, job_id: str, func: Callable[[], object], seconds: float) -> None:
        """Run `func` in this process every `seconds`, first at start (a per-process cache; no lease, no record)."""
        self._local[job_id] = (func, max(float(seconds), 0.1))

    def _run_local(self, job_id: str) -> None:
        try:
            self._local[job_id][0]()
        except Exception:  # logged; the next interval tries again
            log.exception("job %s failed", job_id)

    def start(self, persistent: bool = True) -> None:
        """Start the scheduler: the per-process jobs always, the persistent (leased) jobs when `persistent`.
        A second start while running (the app's lifespan entered twice) changes nothing."""
        if self.scheduler.running:
            return
        if persistent:
            self._create_store_table()
            self.mark_abandoned()
            _ACTIVE[self.name] = self
        elif not self._store_removed:  # never touch the shared job store: another process runs the persistent jobs
            self.scheduler.remove_jobstore("default", shutdown=False)
            self._store_removed = True
        if not self.local_scheduler.running:
            self.local_scheduler.start()
        for job_id, (_func, every) in self._local.items():
            self.local_scheduler.add_job(
                self._run_local,
                "interval",
                args=[job_id],
                id=job_id,
                name=job_id,
                seconds=every,
                next_run_time=datetime.now(UTC),
                replace_existing=True,
            )
        self.scheduler.start(paused=True)
        for job_id, (seconds, jitter) in self._intervals.items() if persistent else ():
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

    def _create_store_table(self) -> None:
        """Two processes starting on a fresh PostgreSQL both CREATE the job table: the loser retries."""
        for attempt in range(5):
            try:
                self._store.jobs_t.create(self.db.engine, checkfirst=True)
                return
            except DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.local_scheduler.running:
            self.local_scheduler.shutdown(wait=False)
        _ACTIVE.pop(self.name, None)

    def run(self, job_id: str, trigger: str = "manual") -> JobOutcome | None:
        """Run a job now, recording the run; refused while it runs here or in another process."""
        with self._lock:
            if job_id in self._running:
                log.info("job %s already running; skipped", job_id)
                return None
            self._running.add(job_id)
        try:
            ready = self._ready.get(job_id)
            if trigger == "schedule" and ready is not None and not ready():
                log.warning("job %s: what it needs is unreachable from this process; slot left to another", job_id)
                return None
            run_id = self._acquire(job_id, trigger)
            if run_id is None:
                return None
            stop = threading.Event()
            beat = threading.Thread(target=self._heartbeat, args=(job_id, run_id, stop), daemon=True)
            beat.start()
            try:
                outcome = self.tasks[job_id]()
                ok, error = True, None
            except Exception as exc:  # a failing job is recorded and shown, never kills the scheduler
                outcome, ok, error = None, False, f"{type(exc).__name__}: {redact(str(exc))[:300]}"
                log.error("job %s failed: %s", job_id, error)
            finally:
                stop.set()
                beat.join()
            with self.db.session() as s:
                row = s.get(JobRun, run_id)
                if row is not None:
                    row.finished_at, row.ok, row.error = now_utc(), ok, error
                    row.targets = outcome.targets if outcome else 0
                    row.failures = outcome.failures if outcome else 0
                lease = s.get(JobLease, job_id)
                if lease is not None and lease.run_id == run_id:
                    lease.holder, lease.run_id, lease.expires_at = None, None, None
            return outcome
        finally:
            with self._lock:
                self._running.discard(job_id)

    def _acquire(self, job_id: str, trigger: str) -> int | None:
        """Take the job's lease and record the run start in one write transaction; None: not ours to run."""
        now = now_utc()
        seconds = self._intervals.get(job_id, (0, 0))[0]
        try:
            with self.db.session() as s:
                lease = s.scalars(select(JobLease).where(JobLease.job_id == job_id).with_for_update()).first()
                if lease is None:
                    lease = JobLease(job_id=job_id)
                    s.add(lease)
                    s.flush()  # two processes inserting the first lease: one gets IntegrityError
                if lease.run_id is not None:
                    if _aware(lease.expires_at) > now and _alive(lease.holder):
                        log.info("job %s is running in %s; skipped", job_id, lease.holder)
                        return None
                    # its holder died (process gone, or lease expired): that run is abandoned, this process takes over
                    _abandon(s, lease.run_id, now)
                    log.warning(
                        "job %s: holder %s died; run %s abandoned, taken over", job_id, lease.holder, lease.run_id
                    )
                last = _aware(lease.last_started_at)
                if trigger == "schedule" and seconds and now - last < timedelta(seconds=seconds / 2):
                    log.info("job %s already ran for this slot (at %s); skipped", job_id, last.isoformat())
                    return None
                run = JobRun(job_id=job_id, trigger=trigger, started_at=now, targets=0, failures=0)
                s.add(run)
                s.flush()
                lease.holder, lease.run_id = HOLDER, run.id
                lease.expires_at, lease.last_started_at = now + timedelta(seconds=self.lease_seconds), now
                return run.id
        except IntegrityError:
            log.info("job %s lease taken by another process; skipped", job_id)
            return None

    def _heartbeat(self, job_id: str, run_id: int, stop: threading.Event) -> None:
        while not stop.wait(self.lease_seconds / 3):
            try:
                with self.db.session() as s:
                    lease = s.get(JobLease, job_id)
                    if lease is not None and lease.run_id == run_id:
                        lease.expires_at = now_utc() + timedelta(seconds=self.lease_seconds)
            except Exception as exc:  # the next beat tries again; the lease outlives one missed beat
                log.warning("job %s lease renewal failed: %s", job_id, type(exc).__name__)

    def mark_abandoned(self) -> int:
        """Runs left unfinished by a dead process (gone, or lease expired) → finished, not ok, 'abandoned'."""
        now = now_utc()
        count = 0
        with self.db.session() as s:
            for run in s.scalars(select(JobRun).where(JobRun.finished_at.is_(None))):
                lease = s.get(JobLease, run.job_id)
                held = lease is not None and lease.run_id == run.id
                if held and lease is not None and _aware(lease.expires_at) > now and _alive(lease.holder):
                    continue
                _abandon(s, run.id, now)
                if held and lease is not None:
                    lease.holder, lease.run_id, lease.expires_at = None, None, None
                count += 1
        if count:
            log.warning("%d job run(s) marked abandoned", count)
        return count

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


def _abandon(s: Session, run_id: int, now: datetime) -> None:
    """An unfinished run whose process died → finished, not ok, 'abandoned'."""
    run = s.get(JobRun, run_id)
    if run is not None and run.finished_at is None:
        run.finished_at, run.ok, run.error = now, False, ABANDONED


# --- named work leases (one driver at a time across processes) ---------------------------------------------------

LeaseState = Literal["free", "live", "dead"]
_HELD = threading.local()  # the keys this thread holds (a holder may re-enter its own lease)


class LeaseBusy(RuntimeError):
    """The lease is held by a live process (only when `hold` was told not to wait that long)."""

    def __init__(self, key: str, holder: str | None) -> None:
        super().__init__(f"{key} is held by {holder}")
        self.key, self.holder = key, holder


def _thread_holder() -> str:
    return f"{HOLDER}:{threading.get_ident()}"


def _state(lease: JobLease | None, now: datetime) -> LeaseState:
    if lease is None or lease.holder is None:
        return "free"
    return "live" if _aware(lease.expires_at) > now and _alive(lease.holder) else "dead"


def lease_state(s: Session, key: str) -> LeaseState:
    """free (never taken, or released), live (its holder runs and renews it) or dead (its holder died holding it)."""
    return _state(s.get(JobLease, key), now_utc())


def _take(db: Database, key: str, seconds: float) -> str | None:
    """Take the lease unless a live holder has it; None when taken, else the live holder."""
    now = now_utc()
    try:
        with db.session() as s:
            lease = s.scalars(select(JobLease).where(JobLease.job_id == key).with_for_update()).first()
            if lease is None:
                lease = JobLease(job_id=key)
                s.add(lease)
                s.flush()
            state = _state(lease, now)
            if state == "live":
                return lease.holder or "?"
            if state == "dead":
                log.warning("lease %s: holder %s died; taken over", key, lease.holder)
            lease.holder, lease.run_id = _thread_holder(), None
            lease.expires_at, lease.last_started_at = now + timedelta(seconds=seconds), now
            return None
    except IntegrityError:  # another process inserted the first row at the same moment
        return "?"


def _renew(db: Database, key: str, holder: str, seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds / 3):
        try:
            with db.session() as s:
                lease = s.get(JobLease, key)
                if lease is not None and lease.holder == holder:
                    lease.expires_at = now_utc() + timedelta(seconds=seconds)
        except Exception as exc:  # the next beat tries again; the lease outlives one missed beat
            log.warning("lease %s renewal failed: %s", key, type(exc).__name__)


@contextmanager
def hold(
    db: Database, key: str, seconds: float | None = None, wait: float | None = None, forget: bool = False
) -> Iterator[None]:
    """Hold the named lease (a `job_leases` row) for the block, renewed every third of `seconds`.

    While a live process holds it, wait (polling) until it is released or its holder dies — as long as that takes,
    or at most `wait` seconds, then LeaseBusy. The thread holding it may enter it again (nested calls).
    `forget`: the row is deleted on release (one-off keys such as a task job's, which would otherwise pile up)."""
    held: set[str] = _HELD.__dict__.setdefault("keys", set())
    if key in held:
        yield
        return
    seconds = seconds or LEASE_SECONDS
    deadline = None if wait is None else time.monotonic() + wait
    while (other := _take(db, key, seconds)) is not None:
        if deadline is not None and time.monotonic() >= deadline:
            raise LeaseBusy(key, other)
        time.sleep(0.5)
    holder = _thread_holder()
    held.add(key)
    stop = threading.Event()
    beat = threading.Thread(target=_renew, args=(db, key, holder, seconds, stop), daemon=True)
    beat.start()
    try:
        yield
    finally:
        held.discard(key)
        stop.set()
        beat.join()
        with db.session() as s:
            lease = s.get(JobLease, key)
            if lease is not None and lease.holder == holder:
                if forget:
                    s.delete(lease)
                else:
                    lease.holder, lease.expires_at = None, None


def _aware(at: datetime | None) -> datetime:
    """SQLite hands back naive UTC datetimes; None is 'long ago'."""
    if at is None:
        return datetime.min.replace(tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _alive(holder: str | None) -> bool:
    """False when the holder is a process of this host that no longer exists (or a past instance of us)."""
    host, _, rest = (holder or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST_ID or not pid_text.isdigit():
        return True  # another host: trust its lease until it expires
    pid = int(pid_text)
    if pid == os.getpid():
        return holder == HOLDER or (holder or "").startswith(HOLDER + ":")  # a job's or a thread's of this instance
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
