"""FastAPI router for the monthly supervision reports: list, publish (frozen), download XLSX/HTML or a draft."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from core.deps import CurrentPrincipal, SessionDep, change_context
from core.identity import GLOBAL_READERS
from core.responses import AwareTime, Number
from core.tasks.api import ACCEPTED, TasksDep, submit_accepted, wants_async
from core.tasks.backends import Tasks
from core.times import InputTime, OutputTime, iso
from dashboards import report, report_tasks
from dashboards.api import RateOut
from dashboards.rates import compute_all
from dashboards.report import Month, RankRow
from dashboards.report_html import render_html
from dashboards.report_xlsx import render_xlsx
from inventory.models import Unit

PREFIX = "/api/v1/reports"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML_TYPE = "text/html; charset=utf-8"
Draft = Annotated[bool, Query(description="1: render a live, unpublished preview")]
# 2000–2099: the reports cover the e-government years; out-of-range years would overflow date arithmetic
MonthPath = Annotated[str, Path(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
AsOf = Annotated[
    InputTime | None, Query(description="as of this time (ISO 8601; no offset: Beijing time); omitted: now")
]

MinItems = Annotated[
    int, Query(ge=1, le=100000, description="fewer items counted than this: 样本过少 / too few items to rank")
]
RANK_RULE = (
    "得分为有分母各比率的平均值；得分相同名次相同并注明并列；各项分母合计少于{n}项的列为样本过少、不参与排名 / "
    "score = mean of the rates with a denominator; equal scores share a rank (marked tied); fewer than {n} items "
    "counted: listed apart as too few items to rank"
)


def _download(content: bytes, media_type: str, filename: str, digest: str, draft: bool) -> Response:
    disposition = "inline" if media_type == HTML_TYPE else "attachment"
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "X-Content-SHA256": digest,
            "X-Report-Status": "draft" if draft else "published",
            "Cache-Control": "no-store" if draft else "private, max-age=0",
        },
    )


class ReportSummaryOut(BaseModel):
    """A published report (never its bytes): `as_of` is the month end in Beijing time (+08:00)."""

    month: str
    as_of: AwareTime
    published_at: AwareTime
    published_by: str
    xlsx_sha256: str
    html_sha256: str
    size_bytes: int


class ReportListOut(BaseModel):
    items: list[ReportSummaryOut]
    total: int
    as_of_rule: str


class RankOut(BaseModel):
    """A unit or city in a ranking: score is the mean of its rates that have a denominator (rates by key)."""

    rank: int | None
    key: str
    label: str
    score: Number | None
    rates: dict[str, RateOut]
    items: int  # the sum of its rates' denominators
    tied: int  # how many share this rank (1: no tie)
    too_few: bool  # fewer than min_items items: listed apart (after the ranked ones), no rank
    note: str | None  # "并列第1名，共5个 / tied …" or "样本过少，不参与排名 / too few items to rank (2 < 3)"


class RankingsOut(BaseModel):
    """Ranked rows first, then the too-few ones (too_few, rank null), then those with nothing counted."""

    at: OutputTime | None
    keys: list[str]
    min_items: int
    rule: str
    units: list[RankOut]
    cities: list[RankOut]


def _rank_out(row: RankRow) -> dict[str, Any]:
    return {
        "rank": row.rank,
        "key": row.key,
        "label": row.label,
        "score": row.score,
        "rates": {
            k.value: {"numerator": r.numerator, "denominator": r.denominator, "ratio": r.ratio, "target": r.target}
            for k, r in row.rates.items()
        },
        "items": row.items,
        "tied": row.tied,
        "too_few": row.too_few,
        "note": row.note,
    }


def build_router() -> APIRouter:
    """Routes under /api/v1/reports; every one needs a token, publishing needs admin or the cloud-chief office."""
    router = APIRouter(prefix=PREFIX, tags=["reports"])

    @router.get("", summary="Published monthly reports / 已发布督查通报", response_model=ReportListOut)
    def list_reports(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
        rows = [report.summary(r) for r in report.list_published(session)]
        return {"items": rows, "total": len(rows), "as_of_rule": "month end, Asia/Shanghai (UTC+8)"}

    @router.post(
        "/{month}/publish",
        status_code=201,
        summary="Publish and freeze a month's report / 发布并冻结",
        response_model=ReportSummaryOut,
    )
    def publish(month: MonthPath, request: Request, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
        m = Month.parse(month)
        row = report.publish(session, m, change_context(request, principal), render_xlsx, render_html)
        out = report.summary(row)
        session.commit()
        return out

    def _content(
        session: SessionDep, principal: CurrentPrincipal, month: MonthPath, draft: bool, kind: str, later: Tasks | None
    ) -> Response:
        m = Month.parse(month)
        media_type, render = (XLSX_TYPE, render_xlsx) if kind == "xlsx" else (HTML_TYPE, render_html)
        name = f"yunwang-report-{m}{'-draft' if draft else ''}.{kind}"
        if draft:
            principal.require(*GLOBAL_READERS)
            if later is not None:  # Prefer: respond-async: the draft is made by a job (docs/tasks.md)
                data = {"month": str(m), "kind": kind, "filename": name, "media_type": media_type}
                return submit_accepted(later, report_tasks.DRAFT, data, principal.name)
            content = render(report.build(session, m))
            return _download(content, media_type, name, report.sha256(content), True)
        row = report.require_published(session, m)
        content, digest = (row.xlsx, row.xlsx_sha256) if kind == "xlsx" else (row.html, row.html_sha256)
        return _download(content, media_type, name, digest, False)

    @router.get(
        "/rankings", summary="Unit and city rankings now or as of a date / 单位与地市排名", response_model=RankingsOut
    )
    def rankings(
        session: SessionDep,
        principal: CurrentPrincipal,
        as_of: AsOf = None,
        min_items: MinItems = report.MIN_ITEMS,
    ) -> dict[str, Any]:
        """The report's rankings (score = mean of the rates that have a denominator); scoped roles see own units.
        Fewer than `min_items` items counted: listed apart as 样本过少 / too few items to rank; ties say so."""
        current = compute_all(session, as_of)
        units = report.ranking(current, "unit", min_items)
        if principal.units is not None:
            own = set(session.scalars(select(Unit.code).where(Unit.id.in_(principal.units))))
            units = [u for u in units if u.key in own]
        return {
            "at": iso(next(iter(current.values())).at) if current else None,
            "keys": [k.value for k in current],
            "min_items": min_items,
            "rule": RANK_RULE.format(n=min_items),
            "units": [_rank_out(r) for r in units],
            "cities": [_rank_out(r) for r in report.ranking(current, "city", min_items)],
        }

    @router.get(
        "/{month}.xlsx",
        summary="Download a month's report as XLSX / 下载通报(XLSX)",
        response_class=Response,
        responses={200: {"description": "XLSX", "content": {XLSX_TYPE: {}}}, 202: ACCEPTED},
    )
    def download_xlsx(
        month: MonthPath,
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        tasks: TasksDep,
        draft: Draft = False,
    ) -> Response:
        """`?draft=1` with `Prefer: respond-async`: 202 and the job making the draft (`result_url` downloads it)."""
        return _content(session, principal, month, draft, "xlsx", tasks if wants_async(request) else None)

    @router.get(
        "/{month}.html",
        summary="A month's report as printable HTML / 打印版通报(HTML)",
        response_class=Response,
        responses={200: {"description": "HTML", "content": {"text/html": {}}}, 202: ACCEPTED},
    )
    def download_html(
        month: MonthPath,
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        tasks: TasksDep,
        draft: Draft = False,
    ) -> Response:
        """`?draft=1` with `Prefer: respond-async`: 202 and the job making the draft (`result_url` downloads it)."""
        return _content(session, principal, month, draft, "html", tasks if wants_async(request) else None)

    return router
