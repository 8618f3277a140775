"""The same task tests over the in-process backend and Celery on RabbitMQ: a job row from queued to succeeded or
failed, the result on it, a redacted error, one effect per job however often its message comes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import Database
from core.jobs import HOLDER
from core.models import JobLease
from core.tasks.backends import InProcess, Tasks
from core.tasks.engine import lease_key
from core.tasks.models import TaskJob, TaskStatus
from core.times import now_utc
from tests.integration.tasks.conftest import Engine, NoResources, effects
from tests.integration.tasks.sample_tasks import EFFECT, FAIL


def test_a_task_runs_once_and_its_result_is_on_the_job(engine: Engine) -> None:
    ids = [engine.tasks.submit(EFFECT, {"n": n, "queue": engine.queue}, requested_by="tester") for n in (1, 2, 3)]
    rows = [engine.wait(i) for i in ids]
    assert [(r.status, r.attempts, r.result) for r in rows] == [
        (TaskStatus.SUCCEEDED, 1, {"n": 1, "attempt": 1}),
        (TaskStatus.SUCCEEDED, 1, {"n": 2, "attempt": 1}),
        (TaskStatus.SUCCEEDED, 1, {"n": 3, "attempt": 1}),
    ]
    assert [effects(engine.db, i) for i in ids] == [1, 1, 1]
    job = engine.tasks.get(ids[0])
    assert (job["name"], job["queue"], job["requested_by"], job["error"]) == (EFFECT, engine.queue, "tester", None)
    assert job["created_at"].endswith("+00:00") and job["finished_at"].endswith("+00:00")  # stored UTC, offset shown


def test_a_failing_task_fails_its_job_with_the_secret_redacted(engine: Engine) -> None:
    job_id = engine.tasks.submit(FAIL, {"secret": "hunter2-very-secret", "queue": engine.queue})
    row = engine.wait(job_id)
    assert row.status == TaskStatus.FAILED and row.attempts == 1 and row.result is None
    assert row.error == "RuntimeError: cannot reach the switch with password=*** (attempt 1)"
    assert "hunter2" not in engine.tasks.get(job_id)["error"]


def test_a_duplicate_delivery_of_a_finished_task_changes_nothing(engine: Engine) -> None:
    job_id = engine.tasks.submit(EFFECT, {"n": 7, "queue": engine.queue})
    first = engine.wait(job_id)
    assert (first.status, first.attempts, effects(engine.db, job_id)) == (TaskStatus.SUCCEEDED, 1, 1)
    engine.send_again(job_id)
    engine.send_again(job_id)
    # a later job on the same queue: the one worker (prefetch 1) handled the duplicates before it
    marker = engine.tasks.submit(EFFECT, {"n": 8, "queue": engine.queue})
    engine.wait(marker)
    engine.drain()
    again = engine.row(job_id)
    assert (again.status, again.attempts, again.finished_at, again.result) == (
        TaskStatus.SUCCEEDED,
        1,
        first.finished_at,
        {"n": 7, "attempt": 1},
    )
    assert effects(engine.db, job_id) == 1


def test_submitting_twice_for_the_same_subject_while_it_runs_starts_it_once(engine: Engine) -> None:
    a = engine.tasks.submit(EFFECT, {"n": 9, "sleep_first": 2, "queue": engine.queue}, subject="thing:9")
    b = engine.tasks.submit(EFFECT, {"n": 9, "sleep_first": 2, "queue": engine.queue}, subject="thing:9")
    assert a == b
    engine.wait(a)
    c = engine.tasks.submit(EFFECT, {"n": 9, "queue": engine.queue}, subject="thing:9")  # finished: a new job
    assert c != a
    engine.wait(c)
    assert (effects(engine.db, a), effects(engine.db, c)) == (1, 1)


def test_a_second_delivery_while_the_task_runs_waits_for_it_and_does_nothing(engine: Engine) -> None:
    # what a broker does when the first worker's connection dropped (a broker restart) while its task still runs,
    # or two in-process replicas recovering the same job: the job's lease makes the second wait, then find it done
    job_id = engine.tasks.submit(EFFECT, {"n": 11, "sleep_first": 2, "queue": engine.queue})
    running = engine.wait(job_id, until=(TaskStatus.RUNNING,))
    assert running.attempts == 1
    engine.send_again(job_id)
    engine.send_again(job_id)
    done = engine.wait(job_id)
    marker = engine.tasks.submit(EFFECT, {"n": 12, "queue": engine.queue})  # after the duplicates on one worker
    engine.wait(marker)
    engine.drain()
    again = engine.row(job_id)
    # one attempt, its result (attempt 1: the sleeping one), one effect; a re-claim would have made attempts 2 or 3
    assert (again.status, again.attempts, again.result, again.finished_at) == (
        TaskStatus.SUCCEEDED,
        1,
        {"n": 11, "attempt": 1},
        done.finished_at,
    )
    assert effects(engine.db, job_id) == 1


@pytest.mark.parametrize("engine", ["celery"], indirect=True)  # a worker process of its own: the broker's case
def test_a_worker_killed_mid_task_has_its_task_redelivered_and_done_once(engine: Engine) -> None:
    assert engine.start_worker is not None
    job_id = engine.tasks.submit(EFFECT, {"n": 42, "sleep_first": 30, "queue": engine.queue})
    running = engine.wait(job_id, until=(TaskStatus.RUNNING,))
    assert running.attempts == 1 and effects(engine.db, job_id) == 0
    victim = engine.workers[0]
    os.killpg(victim.pid, signal.SIGKILL)  # mid-task: the message was never acknowledged
    victim.wait(timeout=10)
    engine.start_worker()  # RabbitMQ hands the unacknowledged message to the next consumer
    done = engine.wait(job_id, timeout=90)
    assert (done.status, done.attempts, done.result) == (TaskStatus.SUCCEEDED, 2, {"n": 42, "attempt": 2})
    assert effects(engine.db, job_id) == 1  # by hand: one row, although the task started twice


def test_in_process_jobs_left_by_a_dead_service_run_again_at_start_up(any_db: Database) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    with any_db.session() as s:
        for n, status, attempts, worker in (
            (1, TaskStatus.RUNNING, 1, f"{socket.gethostname()}:{dead.pid}"),  # its process died mid-task
            (2, TaskStatus.QUEUED, 0, None),  # never started
            (3, TaskStatus.RUNNING, 1, f"{socket.gethostname()}:{os.getpid()}"),  # running here: left alone
            (4, TaskStatus.RUNNING, 1, f"{socket.gethostname()}:{os.getpid()}"),  # a live pid, but its lease is dead
        ):
            s.add(
                TaskJob(
                    id=f"job{n}",
                    name=EFFECT,
                    queue="default",
                    status=status,
                    attempts=attempts,
                    worker=worker,
                    payload={"n": n, "queue": "default"},
                    created_at=now_utc(),
                )
            )
        # one rule, the lease (as the periodic requeue): job3's run holds a live lease in this process; job4's lease
        # was held elsewhere and ran out (a pid that happens to be alive here says nothing); job1 has none left
        s.add(JobLease(job_id=lease_key("job3"), holder=f"{HOLDER}:1", expires_at=now_utc() + timedelta(seconds=60)))
        gone = now_utc() - timedelta(seconds=1)
        s.add(JobLease(job_id=lease_key("job4"), holder="elsewhere:4242:x:1", expires_at=gone))
    backend = InProcess(any_db, NoResources(), threads=2)
    tasks = Tasks(any_db, backend)
    assert tasks.recover() == 3
    backend.stop()
    with any_db.read_session() as s:
        got = {r.id: (r.status, r.attempts) for r in s.scalars(select(TaskJob))}
    assert got == {
        "job1": (TaskStatus.SUCCEEDED, 2),
        "job2": (TaskStatus.SUCCEEDED, 1),
        "job3": (TaskStatus.RUNNING, 1),
        "job4": (TaskStatus.SUCCEEDED, 2),
    }
    assert [effects(any_db, f"job{n}") for n in (1, 2, 3, 4)] == [1, 1, 0, 1]


def test_a_broker_that_is_down_fails_the_job_and_answers_unavailable(any_db: Database) -> None:
    from core.errors import Unavailable
    from core.tasks.celery_app import CeleryBackend

    backend = CeleryBackend("amqp://guest:guest@127.0.0.1:1//")  # nothing listens on port 1
    tasks = Tasks(any_db, backend)
    with pytest.raises(Unavailable, match="任务队列不可用 / the task queue is unavailable"):
        tasks.submit(EFFECT, {"n": 1, "queue": "nowhere"})
    backend.stop()
    [job] = tasks.recent()
    assert (job["status"], job["attempts"], job["error"]) == (
        "failed",
        0,
        "not queued: OperationalError: [Errno 111] Connection refused",
    )
