"""Task jobs over HTTP: `GET /api/v1/tasks/{job_id}` (status, attempts, result, redacted error) and the recent list.

Who sees a job is one rule (core/tasks/visibility.py), the same here, on a request's jobs
(`GET /api/v1/requests/{id}/jobs`) and on the probe jobs (`GET /api/v1/collectors/probe-jobs…`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from core.deps import CurrentPrincipal
from core.errors import Conflict, NotFound, Problem
from core.responses import ResponseModel
from core.tasks.backends import Tasks
from core.tasks.engine import File, job_out
from core.tasks.models import TaskJob
from core.validation import INT32_MAX
from core.wiring import PROVIDERS, Key, provider, services

TASKS: Key[Tasks] = Key("tasks")
get_tasks = provider(TASKS)
TasksDep = Annotated[Tasks, Depends(get_tasks)]


class TaskJobOut(ResponseModel):
    """A background task's job: queued → running → succeeded | failed; `attempts` counts deliveries started."""

    id: str
    name: str
    queue: str
    subject: str | None
    requested_by: str | None
    status: str
    attempts: int
    result: dict[str, Any] | None
    error: str | None
    created_at: str | None  # ISO 8601 with offset
    started_at: str | None
    finished_at: str | None
    url: str


class TaskPageOut(ResponseModel):
    """A page of jobs, newest first, as every list answers: `items`, `total` (all the caller may see), `limit`,
    `offset`."""

    items: list[TaskJobOut]
    total: int
    limit: int
    offset: int


class JobBriefOut(ResponseModel):
    """A job just submitted: follow `url`; a report's file is at `result_url` once the job succeeded."""

    id: str
    name: str
    status: str
    url: str
    result_url: str | None = None


class AcceptedOut(ResponseModel):
    """202: the work runs as a background job."""

    job: JobBriefOut


ACCEPTED: dict[str, Any] = {"model": AcceptedOut, "description": "the job doing the work (docs/tasks.md)"}
FILE_TYPES = ("text/csv", "text/html", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def wants_async(request: Request) -> bool:
    """The client asked for a job instead of the answer (RFC 7240 `Prefer: respond-async`)."""
    return "respond-async" in request.headers.get("prefer", "").lower()


def submit_accepted(
    tasks: Tasks, name: str, data: dict[str, Any], requested_by: str, upload: File | None = None
) -> JSONResponse:
    """Submit a job and answer 202 with it (database I/O: call from a handler thread, never on the event loop)."""
    return accepted(tasks, tasks.submit(name, data, requested_by=requested_by, upload=upload))


def accepted(tasks: Tasks, job_id: str) -> JSONResponse:
    """202: the job and where to follow it (`Location`); a report's file is at `result_url` once it succeeded."""
    job = tasks.get(job_id)
    brief = {"id": job["id"], "name": job["name"], "status": job["status"], "url": job["url"]}
    if job["name"].startswith("reports."):
        brief["result_url"] = f"{job['url']}/result"
    return JSONResponse({"job": brief}, status_code=202, headers={"Location": job["url"]})


class AppResources:
    """A task's services in the service process: the app's container, honouring `app.dependency_overrides` of
    the providers (as the routes do), so a task sees what the route that submitted it saw."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, key: Key[Any]) -> Any:
        got = PROVIDERS.get(key)
        override = self.app.dependency_overrides.get(got) if got is not None else None
        return override() if override is not None else services(self.app).get(key)


def _brief(row: TaskJob) -> dict[str, Any]:
    return job_out(row, result=False)  # a list of large imports would carry every report


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

    @r.get("", response_model=TaskPageOut, summary="Recent background jobs / 最近的后台任务")
    def recent(
        p: CurrentPrincipal,
        tasks: TasksDep,
        subject: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
    ) -> dict[str, Any]:
        """The newest jobs the caller may see (core/tasks/visibility.py), without results (read one job for it);
        `total` counts all the caller may see, `limit` and `offset` page through them."""
        items, total = tasks.page(p, subject, limit=limit, offset=offset, out=_brief)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @r.get("/{job_id}", response_model=TaskJobOut, summary="One background job: status and result / 后台任务")
    def one(job_id: Annotated[str, Path(max_length=64)], p: CurrentPrincipal, tasks: TasksDep) -> dict[str, Any]:
        return tasks.view(job_id, p)

    @r.get(
        "/{job_id}/result",
        summary="The file a finished job made (a report) / 任务生成的文件",
        response_class=Response,
        responses={
            200: {
                "description": "the file, with the content type and file name of the synchronous route",
                "content": {t: {} for t in FILE_TYPES},
            }
        },
    )
    def result(job_id: Annotated[str, Path(max_length=64)], p: CurrentPrincipal, tasks: TasksDep) -> Response:
        """Only whoever asked for the report downloads it (it was made with that caller's role and unit scope)."""
        job = tasks.get(job_id)
        if job["requested_by"] != p.name:
            raise NotFound("no such task job / 无此任务", [Problem("not found", field="job_id", value=job_id[:64])])
        made = tasks.result_file(job_id) if job["status"] == "succeeded" else None
        if made is None:
            raise Conflict(
                f"任务{_STATUS_ZH.get(job['status'], '')}，没有可下载的文件 / the job is {job['status']}: no file to download",
                [Problem("no result file", field="job_id", value=job["status"])],
            )
        name = made.filename or f"{job['name']}-{job_id}"
        return Response(
            made.content,
            media_type=made.media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    return r


_STATUS_ZH = {"queued": "排队中", "running": "运行中", "failed": "已失败", "succeeded": "已完成"}


def install(app: FastAPI, tasks: Tasks) -> None:
    services(app).provide(TASKS, tasks)
    app.include_router(router())
