"""Routes for spreadsheet import (dry run or apply), export and blank templates of each inventory kind."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from core.audit import ChangeContext
from core.deps import CurrentPrincipal, SessionDep, change_context
from core.errors import Forbidden, Problem, TooLarge, ValidationFailed
from core.identity import Principal
from core.tasks.api import ACCEPTED, TasksDep, submit_accepted, wants_async
from core.tasks.backends import Tasks
from core.tasks.callers import context_json, principal_json
from core.tasks.engine import File
from core.threads import run_long
from core.times import today_beijing
from core.wiring import Key, provider
from inventory.access import INVENTORY_WRITE, write_guard
from inventory.io import exporting
from inventory.io import tasks as import_tasks
from inventory.io.api_models import ImportReportOut
from inventory.io.cells import to_utc
from inventory.kinds import KINDS

KindName = StrEnum("KindName", {name: name for name in KINDS})  # type: ignore[misc]
FileFormat = Literal["csv", "xlsx"]
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "the file", "content": {m.split(";")[0]: {} for m in MEDIA.values()}}
}
_FORM_SLACK = 64 * 1024  # multipart boundaries and headers around the file itself
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "description": ".csv or .xlsx"}},
                }
            }
        },
    }
}


UPLOAD_LIMIT: Key[int] = Key("max_upload_bytes")
get_max_upload_bytes = provider(UPLOAD_LIMIT)
UploadLimitDep = Annotated[int, Depends(get_max_upload_bytes)]
SYNC_IMPORT_BYTES = 1024 * 1024  # larger uploads are imported as a task (202 + job); docs/tasks.md
SYNC_LIMIT: Key[int] = Key("sync_import_bytes")
get_sync_import_bytes = provider(SYNC_LIMIT)
SyncLimitDep = Annotated[int, Depends(get_sync_import_bytes)]


def _too_large(size: int, limit: int) -> TooLarge:
    return TooLarge(
        f"upload is larger than {limit} bytes / 上传文件超过上限",
        [Problem("file too large", field="file", value=size)],
    )


async def _read_upload(request: Request, limit: int) -> tuple[bytes, str | None]:
    """The uploaded `file` field, refused with 413 as soon as it is known to exceed the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _FORM_SLACK:
        raise _too_large(int(declared), limit)
    form = await request.form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed(
                "send the spreadsheet as the multipart field 'file' / 请以 file 字段上传文件",
                [Problem("required", field="file")],
            )
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise _too_large(len(data), limit)
        return data, upload.filename
    finally:
        await form.close()


def _may_import(principal: Principal, kind: str) -> None:
    if kind not in INVENTORY_WRITE[principal.role]:
        raise Forbidden(
            f"role {principal.role.value} may not change {kind}",
            [Problem("not writable by this role", field="kind", value=kind)],
        )


def _attachment(content: bytes, kind: str, fmt: str, stem: str) -> Response:
    name = f"{kind}-{stem}.{fmt}"
    return Response(content, media_type=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _submitted(
    tasks: Tasks, p: Principal, ctx: ChangeContext, kind: str, data: bytes, filename: str | None, dry_run: bool
) -> JSONResponse:
    """The upload stored with its job (one transaction): 202, the job, and where to follow it."""
    payload = {"kind": kind, "dry_run": dry_run, "principal": principal_json(p), "ctx": context_json(ctx)}
    media = MEDIA["xlsx"] if (filename or "").lower().endswith(".xlsx") else MEDIA["csv"]
    return submit_accepted(tasks, import_tasks.IMPORT, payload, p.name, File(data, media, filename))


def add_io_routes(router: APIRouter) -> None:
    """Add `/{kind}/import`, `/{kind}/export` and `/{kind}/template` (before the `/{kind}/{id}` routes)."""

    @router.post(
        "/{kind}/import",
        summary="Import a CSV/XLSX file (dry run or all-or-nothing apply) / 导入",
        openapi_extra=_UPLOAD_BODY,
        responses={
            200: {"model": ImportReportOut, "description": "the per-row report (dry run or applied)"},
            202: {
                **ACCEPTED,
                "description": "a large file (or `Prefer: respond-async`): imported by the job `inventory.import`, "
                "whose result is the report (docs/tasks.md)",
            },
            422: {"description": "some rows are wrong; nothing was written"},
            413: {"description": "too big"},
        },
    )
    async def import_kind(
        kind: KindName,
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        max_upload_bytes: UploadLimitDep,
        sync_import_bytes: SyncLimitDep,
        tasks: TasksDep,
        dry_run: Annotated[bool, Query(description="only report the diff; write nothing")] = False,
        message: Annotated[str | None, Query(max_length=500)] = None,
        history_since: Annotated[
            datetime | None,
            Query(
                description="new objects are on record since this time (no offset = Beijing time); default: the "
                "earliest status date in the file / 新建对象的在册起始时间"
            ),
        ] = None,
    ) -> JSONResponse:
        """Rows are matched by code: new codes are created, known ones updated; references are codes.

        Returns the per-row report; with any error it is a 422 whose `error.details` name row and field.
        A file larger than the synchronous limit (1 MiB), or any file sent with `Prefer: respond-async`, is
        imported by a background job: 202 with `job`, the same report as the job's result.
        """
        name = str(kind.value)
        _may_import(principal, name)
        data, filename = await _read_upload(request, max_upload_bytes)
        ctx = change_context(request, principal, write_guard(principal), message)
        if history_since is not None:
            ctx = replace(ctx, history_since=to_utc(history_since))

        if len(data) > sync_import_bytes or wants_async(request):
            # the upload and its job's row (and a broker's publish): I/O, in a handler thread, not on the event loop
            return await run_in_threadpool(_submitted, tasks, principal, ctx, name, data, filename, dry_run)
        report = await run_long(import_tasks.run_import, session, name, data, filename, ctx, dry_run)
        status, body = import_tasks.answer(report)
        return JSONResponse(body, status_code=status)

    @router.get(
        "/{kind}/export",
        summary="Export a kind as CSV/XLSX (codes for references) / 导出",
        response_class=Response,
        responses={
            **FILE_RESPONSE,
            202: {**ACCEPTED, "description": "`Prefer: respond-async`: the job making the file"},
        },
    )
    async def export_kind(
        kind: KindName,
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        tasks: TasksDep,
        format: Annotated[FileFormat, Query(description="csv or xlsx")] = "xlsx",
    ) -> Response:
        """Scoped roles get only their unit subtree; the file re-imports to no change.

        With `Prefer: respond-async` the file is made by a job (`reports.inventory_export`): 202 with `job`; the
        file is then downloaded from `result_url` (`GET /api/v1/tasks/{job_id}/result`) by whoever asked.
        """
        name = str(kind.value)
        stem = today_beijing().isoformat()  # the file's date as the office reads it
        if wants_async(request):
            units = sorted(principal.units) if principal.units is not None else None
            filename = f"{name}-{stem}.{format}"
            payload = {
                "kind": name,
                "format": format,
                "units": units,
                "filename": filename,
                "media_type": MEDIA[format],
            }
            return await run_in_threadpool(submit_accepted, tasks, import_tasks.EXPORT, payload, principal.name)
        data = await run_long(exporting.export_file, session, name, format, principal.units)
        return _attachment(data, name, format, stem)

    @router.get(
        "/{kind}/template",
        summary="A blank import template / 导入模板",
        response_class=Response,
        responses=FILE_RESPONSE,
    )
    def template_kind(
        kind: KindName,
        principal: CurrentPrincipal,
        format: Annotated[FileFormat, Query(description="xlsx (with a 说明 Notes sheet) or csv")] = "xlsx",
    ) -> Response:
        name = str(kind.value)
        return _attachment(exporting.template(name, format), name, format, "template")
