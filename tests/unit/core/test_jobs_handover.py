"""Handing a job (or a leased piece of work) over when its holder died: at once for a process of this host that is
gone, after the lease for another host; the dead holder's run is marked abandoned by the process taking over."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import jobs as jobs_module
from core.db import Database
from core.jobs import ABANDONED, HOLDER, HOST_ID, JobOutcome, Jobs, LeaseBusy, hold, lease_state
from core.models import JobLease, JobRun
from core.times import now_utc


def _dead_pid() -> int:
    """The pid of a process of this host that has exited (and was reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _leave_running(db: Database, job_id: str, holder: str, expires_in_s: float) -> int:
    """What a process killed mid-run leaves: an unfinished run and the job's lease still naming it."""
    now = now_utc()
    with db.session() as s:
        run = JobRun(job_id=job_id, trigger="schedule", started_at=now - timedelta(seconds=30), targets=0, failures=0)
        s.add(run)
        s.flush()
        s.add(
            JobLease(
                job_id=job_id,
                holder=holder,
                run_id=run.id,
                expires_at=now + timedelta(seconds=expires_in_s),
                last_started_at=now - timedelta(seconds=30),
            )
        )
        return run.id


def _runs(db: Database, job_id: str) -> list[JobRun]:
    with db.session() as s:
        return list(s.scalars(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)))


@pytest.fixture
def db(any_db: Database) -> Database:
    """Every test here on SQLite and on PostgreSQL."""
    return any_db


@pytest.fixture
def jobs(db: Database) -> Jobs:
    j = Jobs(db, name="handover-test", lease_seconds=30)
    j.add_interval("tick", lambda: JobOutcome(targets=1), 10)
    return j


def test_a_run_of_a_dead_process_of_this_host_is_abandoned_and_taken_over_at_once(db: Database, jobs: Jobs) -> None:
    dead = f"{HOST_ID}:{_dead_pid()}:deadbeef"
    old = _leave_running(db, "tick", dead, expires_in_s=50)  # its lease has not expired yet
    assert jobs.run("tick", "schedule") == JobOutcome(targets=1)
    first, second = _runs(db, "tick")
    assert first.id == old and first.ok is False and first.error == ABANDONED and first.finished_at is not None
    assert second.ok is True and second.targets == 1
    with db.session() as s:
        lease = s.get(JobLease, "tick")
        assert lease is not None and lease.holder is None and lease.run_id is None


def test_another_hosts_run_is_left_alone_until_its_lease_expires(db: Database, jobs: Jobs) -> None:
    _leave_running(db, "tick", "other-host:4242:cafe", expires_in_s=50)
    assert jobs.run("tick", "schedule") is None  # it may still be running there
    assert len(_runs(db, "tick")) == 1
    with db.session() as s:
        lease = s.get(JobLease, "tick")
        assert lease is not None
        lease.expires_at = now_utc() - timedelta(seconds=1)  # it stopped renewing: the host died
    assert jobs.run("tick", "schedule") == JobOutcome(targets=1)
    first, second = _runs(db, "tick")
    assert (first.ok, first.error) == (False, ABANDONED)
    assert second.ok is True


def test_a_work_lease_is_free_live_or_dead(db: Database) -> None:
    with db.session() as s:
        assert lease_state(s, "provision:RR1@c1") == "free"
    with hold(db, "provision:RR1@c1"):
        with db.session() as s:
            assert lease_state(s, "provision:RR1@c1") == "live"
            lease = s.get(JobLease, "provision:RR1@c1")
            assert lease is not None and lease.holder is not None and lease.holder.startswith(HOLDER + ":")
        with hold(db, "provision:RR1@c1"):  # the holding thread may enter again (resume → retire)
            pass
        with db.session() as s:
            assert lease_state(s, "provision:RR1@c1") == "live"  # the inner exit did not release it
    with db.session() as s:
        assert lease_state(s, "provision:RR1@c1") == "free"
        lease = s.get(JobLease, "provision:RR1@c1")
        assert lease is not None
        lease.holder, lease.expires_at = "other-host:1:x", now_utc() - timedelta(seconds=1)
    with db.session() as s:
        assert lease_state(s, "provision:RR1@c1") == "dead"
    with hold(db, "provision:RR1@c1"), db.session() as s:  # a dead holder's lease is taken over
        assert lease_state(s, "provision:RR1@c1") == "live"


def test_a_second_holder_waits_until_the_first_releases(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    entered = threading.Event()

    def first() -> None:
        with hold(db, "provision:RR2@c1"):
            order.append("first in")
            entered.set()
            time.sleep(1.2)
            order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    assert entered.wait(10)
    with pytest.raises(LeaseBusy), hold(db, "provision:RR2@c1", wait=0.2):
        pass
    with hold(db, "provision:RR2@c1"):
        order.append("second in")
    t.join()
    assert order == ["first in", "first out", "second in"]


def test_the_holder_renews_its_lease_while_it_works(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with hold(db, "provision:RR3@c1", seconds=0.9):
        with db.session() as s:
            lease = s.get(JobLease, "provision:RR3@c1")
            assert lease is not None and lease.expires_at is not None
            first = lease.expires_at
        time.sleep(1.5)  # renewed every 0.3 s
        with db.session() as s:
            lease = s.get(JobLease, "provision:RR3@c1")
            assert lease is not None and lease.expires_at is not None and lease.expires_at > first
            assert lease_state(s, "provision:RR3@c1") == "live"
    assert jobs_module.LEASE_SECONDS == 60
