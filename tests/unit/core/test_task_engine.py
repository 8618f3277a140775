"""core.tasks.engine: a message delivered again while its job still runs in a live worker (the broker restarted and
gave the message back, its acknowledgement lost with the old connection) waits for that run instead of running the
job a second time beside it; a job whose worker died is still taken over."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.models import JobLease
from core.tasks import engine
from core.tasks.models import TaskJob, TaskStatus
from core.tasks.registry import TaskContext, spec, task
from core.times import now_utc
from tests.task_jobs import job_row

SLOW = "test.engine_slow"
calls: list[tuple[str, int]] = []
GATE = threading.Event()


@task(SLOW, queue="test")
def slow(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    calls.append((tc.job_id, tc.attempt))
    GATE.wait(10)
    return {"n": data["n"]}


class NoResources:
    def get(self, key: Any) -> Any:
        raise LookupError(key)


def test_a_second_delivery_while_the_job_runs_waits_and_then_does_nothing(db: Database) -> None:
    calls.clear()
    GATE.clear()
    row, created = engine.new_job(db, spec(SLOW), {"n": 7}, None, "tester")
    assert created
    outcomes: dict[str, TaskStatus | None] = {}

    def deliver(name: str) -> None:
        outcomes[name] = engine.execute(db, NoResources(), row.id)

    first = threading.Thread(target=deliver, args=("first",))
    first.start()
    deadline = time.monotonic() + 10
    while not calls:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = threading.Thread(target=deliver, args=("second",))  # the same message again, the first still running
    second.start()
    time.sleep(1.5)  # three lease polls (every 0.5 s): it waits, it does not run the job beside the first
    assert calls == [(row.id, 1)]
    assert second.is_alive()
    assert job_row(db, row.id).status == TaskStatus.RUNNING
    GATE.set()
    first.join(10)
    second.join(10)
    assert outcomes == {"first": TaskStatus.SUCCEEDED, "second": None}  # the second found the job finished
    got = job_row(db, row.id)
    assert (got.status, got.attempts, got.result) == (TaskStatus.SUCCEEDED, 1, {"n": 7})
    assert calls == [(row.id, 1)]  # ran once
    with db.read_session() as s:  # the job's lease row is gone with the run
        assert s.scalars(select(JobLease.job_id).where(JobLease.job_id == engine.lease_key(row.id))).all() == []


def test_a_job_left_running_by_a_dead_worker_is_taken_over(db: Database) -> None:
    calls.clear()
    GATE.set()
    row, _ = engine.new_job(db, spec(SLOW), {"n": 8}, None, "tester")
    with db.session() as s:  # its worker claimed it and died holding the lease (which then expired)
        job = s.get(TaskJob, row.id)
        assert job is not None
        job.status, job.attempts, job.worker = TaskStatus.RUNNING, 1, "elsewhere:4242"
        gone = now_utc() - timedelta(seconds=1)
        s.add(JobLease(job_id=engine.lease_key(row.id), holder="elsewhere:4242:deadbeef:1", expires_at=gone))
    assert engine.execute(db, NoResources(), row.id) == TaskStatus.SUCCEEDED
    got = job_row(db, row.id)
    assert (got.status, got.attempts) == (TaskStatus.SUCCEEDED, 2)
    assert calls == [(row.id, 2)]


def _set(db: Database, job_id: str, **values: Any) -> None:
    with db.session() as s:
        job = s.get(TaskJob, job_id)
        assert job is not None
        for k, v in values.items():
            setattr(job, k, v)


def test_orphans_are_the_jobs_nobody_runs_and_a_queued_one_is_sent_again_once(db: Database) -> None:
    now = now_utc()
    ids = [engine.new_job(db, spec(SLOW), {"n": n}, None, "tester")[0].id for n in range(6)]
    lost, waiting, dead, running, done, requeued = ids
    _set(db, lost, created_at=now - timedelta(minutes=10))  # queued 10 min: its message never reached the broker
    _set(db, waiting, created_at=now - timedelta(minutes=1))  # queued 1 min: still waiting its turn
    _set(db, dead, status=TaskStatus.RUNNING, attempts=1, worker="elsewhere:4242")
    _set(db, running, status=TaskStatus.RUNNING, attempts=1, worker="elsewhere:4243")
    _set(db, done, status=TaskStatus.SUCCEEDED, created_at=now - timedelta(minutes=10))
    _set(db, requeued, created_at=now - timedelta(minutes=10), worker=engine.REQUEUED)  # sent again before
    with db.session() as s:
        s.add(  # dead's worker died holding the lease, which then ran out; running's worker renews its lease
            JobLease(job_id=engine.lease_key(dead), holder="elsewhere:4242:x:1", expires_at=now - timedelta(seconds=1))
        )
        s.add(
            JobLease(
                job_id=engine.lease_key(running), holder="elsewhere:4243:x:1", expires_at=now + timedelta(seconds=50)
            )
        )
    first = engine.orphans(db, queued_for=300, now=now)
    assert sorted(job_id for job_id, _, _ in first) == sorted([lost, dead])
    assert all((name, queue) == (SLOW, "test") for _, name, queue in first)
    assert job_row(db, lost).worker == engine.REQUEUED
    # a minute later: the lost job was sent again already; the dead one is still nobody's, so it is sent again
    again = engine.orphans(db, queued_for=300, now=now + timedelta(minutes=1))
    assert [job_id for job_id, _, _ in again] == [dead]


def test_asks_for_one_subject_at_the_same_moment_make_one_job(any_db: Database) -> None:
    # ten clicks on "provision" at once (the review found 3 jobs for one request): the check and the insert run
    # under the subject's lease, so one job is made and every ask gets it
    start = threading.Barrier(10)
    got: list[tuple[str, bool]] = []

    def ask() -> None:
        start.wait()
        row, created = engine.new_job(any_db, spec(SLOW), {"n": 1}, "resource_requests:7", "tester")
        got.append((row.id, created))

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with any_db.read_session() as s:
        rows = s.scalars(select(TaskJob.id).where(TaskJob.subject == "resource_requests:7")).all()
    assert len(rows) == 1
    assert sorted(created for _, created in got) == [False] * 9 + [True]
    assert {job_id for job_id, _ in got} == {rows[0]}
    with any_db.read_session() as s:  # the submit leases are gone
        assert s.scalars(select(JobLease.job_id).where(JobLease.job_id.like("submit:%"))).all() == []
