"""Waiting for background jobs in tests: poll the job route until the job is finished (core.tasks)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from core.db import Database
from core.tasks.models import TaskJob

FINISHED = ("succeeded", "failed")


def wait_job(client: Any, url: str, headers: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:
    """GET the job (TestClient or httpx.Client) until succeeded/failed; its body."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["status"] in FINISHED:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout} s: {job}"
        time.sleep(0.02)


def settled(client: Any, r: httpx.Response, headers: dict[str, str], timeout: float = 60.0) -> httpx.Response:
    """A request route's answer once its background job (if any: a 202 with `job`) has finished: the request then.

    A job that failed (an exception, not a request that failed to provision) fails the test.
    """
    if r.status_code != 202:
        return r
    body = r.json()
    job = wait_job(client, body["job"]["url"], headers, timeout)
    assert job["status"] == "succeeded", job
    got: httpx.Response = client.get(f"/api/v1/requests/{body['id']}", headers=headers)
    return got


def job_row(db: Database, job_id: str) -> TaskJob:
    """The job's row as stored now (detached from its session)."""
    with db.read_session() as s:
        row = s.get(TaskJob, job_id)
        assert row is not None
        s.expunge(row)
        return row
