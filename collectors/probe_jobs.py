"""Probe-now jobs: a request returns a job id at once; the sweeps run on the app's event loop.

Every sweep of a job is also recorded as a run of `probe-now:<kind>` (`collector_job_runs`), the run
records the scheduled jobs use, so `GET /api/v1/collectors/jobs` shows manual probes beside them. The job
itself (progress, per-sweep results) is kept in memory for the newest `keep` jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from collectors import store
from collectors.results import ProbeKind, ProbeResult
from collectors.runner import CollectorService, SweepSummary
from core.times import iso, now_utc

log = logging.getLogger("yunwang.collectors")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def result_out(r: ProbeResult) -> dict[str, Any]:
    return {
        "kind": r.kind.value,
        "target": r.target,
        "port": r.port,
        "node_id": r.node_id,
        "device_id": r.device_id,
        "vantage": r.vantage,
        "ok": r.ok,
        "error": r.error.value if r.error else None,
        "detail": r.detail,
        "at": iso(r.at),
        "loss_ratio": r.loss_ratio,
        "rtt_avg_seconds": r.rtt_avg_seconds,
        "rtt_min_seconds": r.rtt_min_seconds,
        "rtt_max_seconds": r.rtt_max_seconds,
        "facts": r.facts,
    }


def sweep_out(summary: SweepSummary) -> dict[str, Any]:
    return {
        "kind": summary.kind.value,
        "targets": summary.targets,
        "failures": summary.failures,
        "seconds": round(summary.seconds, 3),
        "state_changes": [{"node_id": n, "from": a.value, "to": b.value} for n, a, b in summary.state_changes],
        "results": [result_out(r) for r in summary.results],
    }


def _stamp(t: datetime | None) -> str | None:
    return iso(t) if t else None


@dataclass
class ProbeJob:
    id: str
    node_ids: list[int]
    kinds: list[ProbeKind]
    requested_by: str
    created_at: datetime = field(default_factory=now_utc)
    status: JobStatus = JobStatus.QUEUED
    current: ProbeKind | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    sweeps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, with_results: bool = True) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "status": self.status.value,
            "node_ids": self.node_ids,
            "kinds": [k.value for k in self.kinds],
            "requested_by": self.requested_by,
            "created_at": _stamp(self.created_at),
            "started_at": _stamp(self.started_at),
            "finished_at": _stamp(self.finished_at),
            "progress": {
                "done": len(self.sweeps),
                "total": len(self.kinds),
                "ratio": len(self.sweeps) / len(self.kinds) if self.kinds else 1.0,
                "current": self.current.value if self.current else None,
            },
            "error": self.error,
            "sweeps": self.sweeps
            if with_results
            else [{k: v for k, v in s.items() if k != "results"} for s in self.sweeps],
        }


class ProbeJobs:
    """Runs probe-now jobs one sweep after another on the running event loop; keeps the newest `keep`."""

    def __init__(self, svc: CollectorService, keep: int = 100) -> None:
        self.svc = svc
        self.keep = keep
        self._jobs: OrderedDict[str, ProbeJob] = OrderedDict()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, node_ids: Sequence[int], kinds: Sequence[ProbeKind], actor: str) -> ProbeJob:
        job = ProbeJob(uuid.uuid4().hex, list(node_ids), list(dict.fromkeys(kinds)), actor)
        self._jobs[job.id] = job
        while len(self._jobs) > self.keep:
            old, _ = self._jobs.popitem(last=False)
            self._tasks.pop(old, None)
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"probe-now {job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job.id, None))
        return job

    def get(self, job_id: str) -> ProbeJob | None:
        return self._jobs.get(job_id)

    def recent(self) -> list[ProbeJob]:
        return list(reversed(self._jobs.values()))

    async def _run(self, job: ProbeJob) -> None:
        job.status, job.started_at = JobStatus.RUNNING, now_utc()
        try:
            for kind in job.kinds:
                job.current = kind
                started = now_utc()
                try:
                    summary = await self.svc.sweep(kind, job.node_ids)
                except Exception as exc:
                    self._record(kind, started, False, type(exc).__name__, 0, 0)
                    raise
                self._record(kind, started, True, None, summary.targets, summary.failures)
                job.sweeps.append(sweep_out(summary))
            job.status = JobStatus.SUCCEEDED
        except asyncio.CancelledError:
            job.status, job.error = JobStatus.FAILED, "cancelled"
            raise
        except Exception as exc:  # shown in the job, never raised into the event loop
            job.status, job.error = JobStatus.FAILED, type(exc).__name__
            log.error("probe-now job %s failed: %s", job.id, type(exc).__name__)
        finally:
            job.current, job.finished_at = None, now_utc()

    def _record(self, kind: ProbeKind, started: datetime, ok: bool, error: str | None, n: int, bad: int) -> None:
        with self.svc.db.session() as s:
            store.record_run(s, f"probe-now:{kind.value}", "manual", started, ok, error, n, bad)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
