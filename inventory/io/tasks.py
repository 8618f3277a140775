"""Imports of large files as a background task (`inventory.import`, docs/tasks.md).

The route stores the upload beside the job row (one transaction, core.tasks `TaskFile`) and answers 202 with the
job; the task reads it back and runs the same import as the synchronous route, all rows or none, as the caller
(its role and unit scope guard every write; the change log names the caller). The job's result is the body the
synchronous route would have answered: the per-row report; an import with wrong rows fails its job, writes
nothing, and its result is the 422 body (the one error shape with `report`); a file refused as a whole (unreadable:
422) or a write the caller may not make (403, with its rows) fails the job with the same error body as its result.

A redelivered job (its worker died) runs the import again: a worker that died before the commit wrote nothing;
one that died after it finds every row unchanged (rows are matched by code), so the rows exist once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.errors import AppError
from core.tasks.callers import context_of, principal_of, require_still_allowed
from core.tasks.engine import INPUT, File, TaskFailed, read_file, store_result
from core.tasks.registry import TaskContext, task
from inventory.access import write_guard
from inventory.io import exporting
from inventory.io import importing as io

IMPORT = "inventory.import"
REFUSED = "导入被拒绝，未写入 / import refused, nothing written"
EXPORT = "reports.inventory_export"


def run_import(
    session: Session, kind: str, data: bytes, filename: str | None, ctx: ChangeContext, dry_run: bool
) -> io.ImportReport:
    """Plan or apply the file in `session`: committed only when the whole file was applied, else rolled back."""
    try:
        report = io.import_file(session, kind, data, filename, ctx, dry_run)
        if report.applied:
            session.commit()
        return report
    finally:
        if session.in_transaction():
            session.rollback()


def answer(report: io.ImportReport) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of an import: 200 and the report, or 422, the error and the report."""
    if not report.ok:
        return 422, {**report.error().body(), "report": report.as_dict()}
    return 200, report.as_dict()


@task(IMPORT)
def import_task(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    """The stored upload imported (or dry-run) as the caller; the result is the synchronous route's body."""
    upload = read_file(tc.db, tc.job_id, INPUT)
    if upload is None:
        raise LookupError(f"the upload of job {tc.job_id} is missing")
    p = principal_of(data["principal"])
    ctx = replace(context_of(data["ctx"]), guard=write_guard(p))
    try:
        with tc.db.sessions() as session:
            require_still_allowed(session, p)
            report = run_import(session, data["kind"], upload.content, upload.filename, ctx, bool(data["dry_run"]))
    except AppError as refused:  # a file-level error (unreadable, 422) or a write refused (403): the route's body
        raise TaskFailed(f"{REFUSED}: {refused.status} {refused.message}", _stamped(refused.body(), ctx)) from None
    status, body = answer(report)
    if status != 200:
        n = len(report.all_problems())
        raise TaskFailed(f"{REFUSED}: {n} problem(s)", _stamped(body, ctx))
    return body


def _stamped(body: dict[str, Any], ctx: ChangeContext) -> dict[str, Any]:
    """An error body as the HTTP layer answers it: with the request id (here the upload's, as in its 202)."""
    if ctx.request_id is not None:
        body["error"]["request_id"] = ctx.request_id
    return body


@task(EXPORT)
def export_task(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    """The export the synchronous route would answer (the caller's unit scope), kept as the job's result file."""
    units = data.get("units")
    scope = frozenset(units) if units is not None else None
    with tc.db.read_session() as session:
        content = exporting.export_file(session, data["kind"], data["format"], scope)
    store_result(tc.db, tc.job_id, File(content, data["media_type"], data["filename"]))
    return {"filename": data["filename"], "media_type": data["media_type"], "bytes": len(content)}
