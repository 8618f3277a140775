"""Probe-now jobs: a request returns a job at once; the sweeps run as a background task (core.tasks).

The task `collectors.probe_now` runs on the queue of the requested node's vantage (collectors/vantages.py), so
with a broker the worker at that place probes it; without one, the service's own task threads do. Its job row is
the probe job: progress and per-sweep results are its (partial) result; it is read through the task layer
(`Tasks.view`/`page`), so who sees it follows the one rule of core/tasks/visibility.py. Every sweep is also recorded as a run of
`probe-now:<kind>` (`collector_job_runs`), the run records the scheduled jobs use, so
`GET /api/v1/collectors/jobs` shows manual probes beside them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from collectors import store, vantages
from collectors.results import ProbeKind, ProbeResult
from collectors.runner import CollectorService, SweepSummary
from core.identity import Principal
from core.tasks.backends import Tasks
from core.tasks.models import TaskJob, TaskStatus
from core.tasks.registry import TaskContext
from core.times import iso, now_utc

log = logging.getLogger("yunwang.collectors")

PROBE_NOW = "collectors.probe_now"


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


def job_dict(row: TaskJob, with_results: bool = True) -> dict[str, Any]:
    """A probe-now job as the API shows it, from its task job row."""
    kinds = list(row.payload.get("kinds", []))
    res = row.result or {}
    sweeps = list(res.get("sweeps", []))
    running = row.status == TaskStatus.RUNNING
    return {
        "job_id": row.id,
        "status": row.status.value,
        "node_ids": list(row.payload.get("node_ids", [])),
        "kinds": kinds,
        "requested_by": row.requested_by or "",
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at) if row.started_at else None,
        "finished_at": iso(row.finished_at) if row.finished_at else None,
        "progress": {
            "done": len(sweeps),
            "total": len(kinds),
            "ratio": len(sweeps) / len(kinds) if kinds else 1.0,
            "current": res.get("current") if running else None,
        },
        "error": row.error,
        "sweeps": sweeps if with_results else [{k: v for k, v in s.items() if k != "results"} for s in sweeps],
    }


def _record(
    svc: CollectorService, kind: ProbeKind, started: Any, ok: bool, error: str | None, n: int, bad: int
) -> None:
    with svc.db.session() as s:
        store.record_run(s, f"probe-now:{kind.value}", "manual", started, ok, error, n, bad)


def run_probe_now(tc: TaskContext, svc: CollectorService, data: dict[str, Any]) -> dict[str, Any]:
    """The sweeps of one probe-now job, one kind after another; progress shown after each."""
    sweeps: list[dict[str, Any]] = []
    for value in data["kinds"]:
        kind = ProbeKind(value)
        tc.progress({"sweeps": sweeps, "current": kind.value})
        started = now_utc()
        try:
            summary = svc.sweep_blocking(kind, data["node_ids"])
        except Exception as exc:
            _record(svc, kind, started, False, type(exc).__name__, 0, 0)
            raise
        _record(svc, kind, started, True, None, summary.targets, summary.failures)
        sweeps.append(sweep_out(summary))
    return {"sweeps": sweeps, "current": None}


class ProbeJobs:
    """Submits probe-now jobs as tasks and reads them back (the newest `keep` are listed)."""

    def __init__(
        self, svc: CollectorService, tasks: Tasks, assignments: vantages.Assignments | None = None, keep: int = 100
    ) -> None:
        self.svc, self.tasks, self.keep = svc, tasks, keep
        self.assignments = assignments or {}

    def submit(
        self, node_ids: Sequence[int], kinds: Sequence[ProbeKind], p: Principal, root: int | None = None
    ) -> dict[str, Any]:
        """A job probing `node_ids`, on the queue of `root`'s vantage (the requested node; None: the first)."""
        vantage = None
        if self.assignments and node_ids:
            with self.svc.db.read_session() as s:
                vantage = vantages.vantage_of(s, self.assignments).get(root if root is not None else node_ids[0])
        data = {
            "node_ids": list(node_ids),
            "kinds": [k.value for k in dict.fromkeys(kinds)],
            "vantage": vantage,
        }
        return self.get(self.tasks.submit(PROBE_NOW, data, requested_by=p.name), p)

    def get(self, job_id: str, p: Principal) -> dict[str, Any]:
        """One probe job, if `p` may see it (the one rule of core/tasks/visibility.py); else 404."""
        return self.tasks.view(job_id, p, PROBE_NOW, job_dict)

    def recent(self, p: Principal) -> list[dict[str, Any]]:
        """The newest `keep` probe jobs `p` may see, without per-target results."""
        return self.tasks.page(p, name=PROBE_NOW, limit=self.keep, out=_brief)[0]


def _brief(row: TaskJob) -> dict[str, Any]:
    return job_dict(row, with_results=False)
