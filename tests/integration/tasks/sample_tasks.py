"""Tasks for the task-engine tests, imported by the test process and by `yunwang worker --include`.

`test.effect` writes one change-log row tagged with its job id (the effect); the check and the write are one
write transaction, so running the task twice (a redelivery) leaves one row. On its first attempt it may sleep
first (`sleep_first`), so a test can kill the worker while it runs.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from core.enums import ChangeAction
from core.models import ChangeLog
from core.tasks.registry import TaskContext, task
from core.times import now_utc

EFFECT, FAIL = "test.effect", "test.fail"
KIND = "task_test"


def queue_of(payload: dict[str, Any]) -> str:
    return str(payload["queue"])


@task(EFFECT, queue=queue_of)
def effect(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    if tc.attempt == 1 and data.get("sleep_first"):
        time.sleep(float(data["sleep_first"]))
    with tc.db.session() as s:
        done = s.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.request_id == tc.job_id))
        if not done:
            s.add(
                ChangeLog(
                    at=now_utc(),
                    actor="task:test",
                    kind=KIND,
                    object_id=int(data["n"]),
                    action=ChangeAction.DECIDE,
                    message=f"effect {data['n']}",
                    request_id=tc.job_id,
                )
            )
    return {"n": data["n"], "attempt": tc.attempt}


@task(FAIL, queue=queue_of)
def fail(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError(f"cannot reach the switch with password={data['secret']} (attempt {tc.attempt})")
