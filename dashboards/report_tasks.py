"""The monthly report's live draft as a background task (`reports.monthly_draft`, docs/tasks.md): the heavy part
(every rate as of the month end and of the month before, ranked, rendered) runs in a job; the file is kept as the
job's result and downloaded from `GET /api/v1/tasks/{job_id}/result`."""

from __future__ import annotations

from typing import Any

from core.tasks.engine import File, store_result
from core.tasks.registry import TaskContext, task
from dashboards import report
from dashboards.report import Month
from dashboards.report_html import render_html
from dashboards.report_xlsx import render_xlsx

DRAFT = "reports.monthly_draft"


@task(DRAFT)
def draft_task(tc: TaskContext, data: dict[str, Any]) -> dict[str, Any]:
    """The draft the synchronous route renders (`?draft=1`), as XLSX or HTML."""
    render = render_xlsx if data["kind"] == "xlsx" else render_html
    with tc.db.read_session() as session:
        content = render(report.build(session, Month.parse(data["month"])))
    store_result(tc.db, tc.job_id, File(content, data["media_type"], data["filename"]))
    return {"filename": data["filename"], "media_type": data["media_type"], "bytes": len(content)}
