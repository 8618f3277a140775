"""Provisioning and retirement of requests as background tasks (core.tasks): the HTTP call returns 202 with the
job at once; the job runs `provisioning_hook.provision` / `retire`, whose step log and markers make a second run
(a redelivered message after a worker died) continue where the first stopped instead of building twice.

The payload is JSON: the request id, the caller (`Principal`: name, role, unit scope) and the change context
(actor, role, request id) — the job is authorised and audited as the person who asked.
"""

from __future__ import annotations

from typing import Any

from core.audit import ChangeContext
from core.identity import Principal
from core.tasks.callers import context_json, context_of, principal_json, principal_of
from core.tasks.registry import TaskContext, task
from orchestrator.provisioning.api import CLOUDS
from orchestrator.requests import provisioning_hook as hook

PROVISION = "requests.provision"
RETIRE = "requests.retire"


SUBJECT = "resource_requests"  # the jobs' subject kind: `resource_requests:<id>`


def subject(request_id: int) -> str:
    return f"{SUBJECT}:{request_id}"


def payload(request_id: int, p: Principal, ctx: ChangeContext, managed_quota: bool = False) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "principal": principal_json(p),
        "ctx": context_json(ctx),
        "managed_quota": managed_quota,
    }


def _out(request_id: int, result: hook.ProvisionResult) -> dict[str, Any]:
    return {"request_id": request_id, "status": result.status.value, "message": result.message}


@task(PROVISION)
def provision(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    """scheduled|provisioning → active or failed (with the reason on the request)."""
    rid = int(data["request_id"])
    driver_for = tc.get(CLOUDS).driver_for()
    got = hook.provision(
        tc.db, principal_of(data["principal"]), context_of(data["ctx"]), rid, driver_for, bool(data["managed_quota"])
    )
    return _out(rid, got)


@task(RETIRE)
def retire(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    """active|failed|retiring → retired (or left retiring with what is left, for the next retire)."""
    rid = int(data["request_id"])
    driver_for = tc.get(CLOUDS).driver_for()
    got = hook.retire(tc.db, principal_of(data["principal"]), context_of(data["ctx"]), rid, driver_for)
    return _out(rid, got)
