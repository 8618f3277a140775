"""Probe sweeps as background tasks (core.tasks): one sweep of one probe kind over a vantage's nodes.

The task runs on queue `probe.<vantage>` (collectors/vantages.py), so a `yunwang worker --vantage NAME` at that
place probes the nodes it can reach; the results, node states (change log actor `collector:<vantage>`) and the
run record (`collector_job_runs`, job id `collectors.<kind>@<vantage>`) go to the one database. A sweep is
idempotent in effect: probing again records a newer measurement, and a state only changes once.
"""

from __future__ import annotations

from typing import Any

from collectors import store
from collectors.api import COLLECTOR_SERVICE
from collectors.probe_jobs import PROBE_NOW, run_probe_now
from collectors.results import ProbeKind
from collectors.runner import CollectorService
from collectors.vantages import probe_queue
from core.tasks.registry import TaskContext, task
from core.times import now_utc

SWEEP = "collectors.sweep"


def payload(kind: ProbeKind, vantage: str | None, node_ids: list[int] | None) -> dict[str, Any]:
    return {"kind": kind.value, "vantage": vantage, "node_ids": node_ids}


def run_id(kind: str, vantage: str | None) -> str:
    return f"collectors.{kind}@{vantage}" if vantage else f"collectors.{kind}"


@task(SWEEP, queue=lambda p: probe_queue(p.get("vantage")))
def sweep(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    svc: CollectorService = tc.get(COLLECTOR_SERVICE)
    kind = ProbeKind(data["kind"])
    started = now_utc()
    try:
        summary = svc.sweep_blocking(kind, data.get("node_ids"))
    except Exception as exc:
        with tc.db.session() as s:
            store.record_run(
                s, run_id(kind.value, data.get("vantage")), "schedule", started, False, type(exc).__name__, 0, 0
            )
        raise
    with tc.db.session() as s:
        store.record_run(
            s,
            run_id(kind.value, data.get("vantage")),
            "schedule",
            started,
            True,
            None,
            summary.targets,
            summary.failures,
        )
    return {
        "kind": kind.value,
        "vantage": data.get("vantage"),
        "probed_by": svc.config.vantage,
        "targets": summary.targets,
        "failures": summary.failures,
        "seconds": round(summary.seconds, 3),
        "state_changes": [{"node_id": n, "from": a.value, "to": b.value} for n, a, b in summary.state_changes],
    }


@task(PROBE_NOW, queue=lambda p: probe_queue(p.get("vantage")))
def probe_now(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    """A network admin's probe-now job (collectors/probe_jobs.py): its kinds one after another."""
    return run_probe_now(tc, tc.get(COLLECTOR_SERVICE), data)
