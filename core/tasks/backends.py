"""Two ways to run the same tasks behind one interface (`Tasks`):

- `InProcess` (the embedded default, no broker configured): a thread pool inside the service;
- `CeleryBackend` (`YUNWANG_BROKER_URL=amqp://…`): messages on RabbitMQ, run by `yunwang worker` processes
  (core/tasks/celery_app.py); late acknowledgement, so a worker killed mid-task gets its message redelivered.

Either way the job row (core/tasks/models.py) is written first and the message carries only its id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import false, func, not_, or_, select

from core.db import Database
from core.errors import NotFound, Problem, Unavailable
from core.identity import Principal
from core.tasks import engine
from core.tasks.models import TaskJob
from core.tasks.registry import Resources, spec
from core.tasks.visibility import may_see, subject_kinds

log = logging.getLogger("yunwang.tasks")


def _not_found(job_id: str) -> NotFound:
    return NotFound("no such task job / 无此任务", [Problem("not found", field="job_id", value=job_id[:64])])


class Backend(Protocol):
    name: str

    def send(self, job_id: str, task_name: str, queue: str) -> None: ...

    def reachable(self) -> bool: ...

    def stop(self) -> None: ...


class InProcess:
    """Runs jobs on a thread pool in this process (same claim/finish semantics as a worker)."""

    name = "in-process"

    def __init__(self, db: Database, resources: Resources, threads: int = 4) -> None:
        self.db, self.resources = db, resources
        self._pool: ThreadPoolExecutor | None = None
        self.threads = threads

    def send(self, job_id: str, task_name: str, queue: str) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="yunwang-task")
        self._pool.submit(self._run, job_id)

    def reachable(self) -> bool:
        return True  # the pool is in this process

    def _run(self, job_id: str) -> None:
        try:
            engine.execute(self.db, self.resources, job_id)
        except Exception:  # a database error while claiming/finishing: the row stays queued/running
            log.exception("task job %s could not be run", job_id)

    def recover(self) -> int:
        """At start-up: run again the unfinished jobs nobody runs (`engine.unowned`: the one lease rule, as the
        periodic requeue), e.g. those a dead process of this host left in its thread pool; each is claimed again
        (attempts + 1 for a running one) and continues. How many were sent."""
        found = engine.unowned(self.db)
        for job_id, name, queue in found:
            self.send(job_id, name, queue)
        if found:
            log.warning("%d unfinished task job(s) of a stopped process run again", len(found))
        return len(found)

    def stop(self) -> None:
        """Wait for running jobs (they write to the database the app is about to close)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            self._pool = None


class Tasks:
    """The one way to do background work: `submit(name, payload) → job id`; `get(job_id)` for its row."""

    def __init__(self, db: Database, backend: Backend) -> None:
        self.db, self.backend = db, backend

    def submit(
        self,
        task_name: str,
        payload: dict[str, Any],
        subject: str | None = None,
        requested_by: str | None = None,
        upload: engine.File | None = None,
        keep_unsent: bool = False,
    ) -> str:
        """The job id; `upload` (a file the task works on) is stored with the job row, in one transaction.

        When the broker refuses the message the job is failed and the caller gets a 503 — or, with `keep_unsent`
        (the scheduler's submissions: nobody would repeat them), the job stays queued, marked unsent, and the next
        `tasks_requeue` sends it once the broker is back."""
        s = spec(task_name)
        row, created = engine.new_job(self.db, s, payload, subject, requested_by, upload)
        if not created:
            return row.id
        try:
            self.backend.send(row.id, s.name, row.queue)
        except Exception as exc:
            if keep_unsent:
                engine.mark_unsent(self.db, row.id)
                log.warning("task job %s (%s) not sent: %s; kept to send again", row.id, s.name, engine.error_text(exc))
                return row.id
            # the broker is down: the job is failed, the caller gets a 503
            engine.finish(self.db, row.id, None, f"not queued: {engine.error_text(exc)}")
            raise Unavailable(
                "任务队列不可用 / the task queue is unavailable", [Problem("broker unavailable", field="broker")]
            ) from exc
        return row.id

    def get(self, job_id: str) -> dict[str, Any]:
        """A job as the API shows it, for whoever just submitted it (no visibility check: use `view` for a caller)."""
        with self.db.read_session() as s:
            row = s.get(TaskJob, job_id)
            if row is None:
                raise _not_found(job_id)
            return engine.job_out(row)

    def view(
        self,
        job_id: str,
        p: Principal,
        name: str | None = None,
        out: Callable[[TaskJob], dict[str, Any]] = engine.job_out,
    ) -> dict[str, Any]:
        """One job as `out` shows it, if `p` may see it (core.tasks.visibility) and it is a `name` job; else 404
        (a job one may not see looks absent)."""
        with self.db.read_session() as s:
            row = s.get(TaskJob, job_id)
            if (
                row is None
                or (name is not None and row.name != name)
                or not may_see(s, p, row.requested_by, row.subject)
            ):
                raise _not_found(job_id)
            return out(row)

    def result_file(self, job_id: str) -> engine.File | None:
        """The file a finished job made (a report), or None."""
        return engine.read_file(self.db, job_id, engine.RESULT)

    def recent(
        self, subject: str | None = None, limit: int = 50, requested_by: str | None = None, results: bool = True
    ) -> list[dict[str, Any]]:
        """The newest jobs (of a subject, of who asked), with no caller check — for the service itself and tests;
        a route shows jobs through `view`/`page` (core/tasks/visibility.py)."""
        with self.db.read_session() as s:
            q = select(TaskJob).order_by(TaskJob.created_at.desc(), TaskJob.id).limit(limit)
            if subject is not None:
                q = q.where(TaskJob.subject == subject)
            if requested_by is not None:
                q = q.where(TaskJob.requested_by == requested_by)
            return [engine.job_out(r, results) for r in s.scalars(q)]

    def page(
        self,
        p: Principal,
        subject: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
        out: Callable[[TaskJob], dict[str, Any]] = engine.job_out,
    ) -> tuple[list[dict[str, Any]], int]:
        """The newest jobs `p` may see (of a subject, of a task), `offset` and `limit` applied after that filter, and
        how many `p` may see in all.

        Counted without reading every row: jobs of no registered subject kind are counted in SQL (the rule is then
        "unscoped, or who asked"); those on a subject per (who asked, subject) group, the subject's reader asked once
        per group. The page reads the newest rows until it is full."""
        where = [TaskJob.subject == subject] if subject is not None else []
        if name is not None:
            where.append(TaskJob.name == name)
        on_subject = or_(*(TaskJob.subject.like(f"{k}:%") for k in subject_kinds())) if subject_kinds() else false()
        with self.db.read_session() as s:
            seen: dict[tuple[str | None, str | None], bool] = {}

            def visible(asker: str | None, subj: str | None) -> bool:
                if (asker, subj) not in seen:
                    seen[(asker, subj)] = may_see(s, p, asker, subj)
                return seen[(asker, subj)]

            plain = [*where, or_(TaskJob.subject.is_(None), not_(on_subject))]  # NOT LIKE of a NULL is NULL
            if p.scoped:
                plain.append(TaskJob.requested_by == p.name)
            total = s.scalar(select(func.count()).select_from(TaskJob).where(*plain)) or 0
            groups = select(TaskJob.requested_by, TaskJob.subject, func.count()).where(*where, on_subject)
            for asker, subj, n in s.execute(groups.group_by(TaskJob.requested_by, TaskJob.subject)):
                total += n if visible(asker, subj) else 0
            q = select(TaskJob.id, TaskJob.requested_by, TaskJob.subject).where(*where)
            ids: list[str] = []
            stream = s.execute(q.order_by(TaskJob.created_at.desc(), TaskJob.id).execution_options(yield_per=500))
            for job_id, asker, subj in stream:
                if len(ids) >= offset + limit:
                    break
                if visible(asker, subj):
                    ids.append(job_id)
            stream.close()
            wanted = ids[offset:]
            rows = {r.id: r for r in s.scalars(select(TaskJob).where(TaskJob.id.in_(wanted)))} if wanted else {}
            return [out(rows[i]) for i in wanted], total

    def requeue(self, queued_for: float) -> int:
        """Send again the jobs nobody runs (`engine.orphans`); how many. Periodic, once across replicas."""
        found = engine.orphans(self.db, queued_for)
        sent = 0
        for job_id, name, queue in found:
            try:
                self.backend.send(job_id, name, queue)
                sent += 1
            except Exception as exc:  # still unreachable: kept, the next requeue tries again (never dropped)
                engine.mark_unsent(self.db, job_id)
                log.warning("task job %s not sent again: %s", job_id, engine.error_text(exc))
        if found:
            log.warning("%d of %d task job(s) nobody ran sent again", sent, len(found))
        return sent

    def ready(self) -> bool:
        """Whether submitted work can be handed on now: the broker answers (checked at most every few seconds);
        in-process: always."""
        return self.backend.reachable()

    def recover(self) -> int:
        """In-process only: jobs left by a process that died are run again (a broker redelivers by itself)."""
        return self.backend.recover() if isinstance(self.backend, InProcess) else 0

    def stop(self) -> None:
        self.backend.stop()
