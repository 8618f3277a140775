"""`yunwang report preview|publish|download`: the monthly supervision report from the command line.

The orchestrator's CLI builds this app with `make_app(open_db)`, so this package never reads settings itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import AppError
from dashboards import report
from dashboards.report import Month
from dashboards.report_html import render_html
from dashboards.report_pdf import PdfUnavailable, html_to_pdf
from dashboards.report_xlsx import render_xlsx

console = Console()
MONTH = typer.Option(..., "--month", help="YYYY-MM; figures as of the month's last instant, Beijing time")
OUT = typer.Option(..., "--out", help="file to write: .xlsx, .html, or .pdf (the HTML printed by Chromium)")


def _format(out: Path) -> str:
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in ("xlsx", "html", "pdf"):
        raise typer.BadParameter("the file must end in .xlsx, .html or .pdf", param_hint="--out")
    return suffix


def _write(out: Path, kind: str, content: bytes) -> None:
    """Write XLSX/HTML as they are; for .pdf, `content` is the HTML, printed by Chromium."""
    if kind == "pdf":
        try:
            content = html_to_pdf(content)
        except PdfUnavailable as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(3) from None
    out.write_bytes(content)


def _fail(exc: AppError) -> typer.Exit:
    console.print(f"[red]{exc.message}[/red]")
    for p in exc.problems:
        console.print(f"[red]  {p.field or ''}: {p.message}[/red]")
    return typer.Exit(2)


def make_app(open_db: Callable[[], Database]) -> typer.Typer:
    """The `report` command group over the database that `open_db` returns."""
    app = typer.Typer(help="Monthly supervision report / 督查通报", no_args_is_help=True)

    @app.command("preview")
    def preview(month: str = MONTH, out: Path = OUT) -> None:
        """Write a draft (unpublished) report for a month / 生成草稿."""
        kind = _format(out)
        try:
            m = Month.parse(month)
            with open_db().session() as s:
                data = report.build(s, m)
        except AppError as exc:
            raise _fail(exc) from None
        content = render_xlsx(data) if kind == "xlsx" else render_html(data)
        _write(out, kind, content)
        console.print(f"草稿 draft {m} → {out} (source sha256 {report.sha256(content)})")

    @app.command("publish")
    def publish(
        month: str = MONTH, actor: str = typer.Option("cli", help="who publishes (recorded in the change log)")
    ) -> None:
        """Publish and freeze a month's report; a month is published once / 发布并冻结."""
        try:
            m = Month.parse(month)
            with open_db().session() as s:
                row = report.publish(s, m, ChangeContext(actor=actor, role=Role.ADMIN), render_xlsx, render_html)
                summary = report.summary(row)
        except AppError as exc:
            raise _fail(exc) from None
        console.print(f"已发布 published {summary['month']} xlsx sha256 {summary['xlsx_sha256']}")

    @app.command("download")
    def download(month: str = MONTH, out: Path = OUT) -> None:
        """Write the published (frozen) report of a month / 下载已发布通报."""
        kind = _format(out)
        try:
            m = Month.parse(month)
            with open_db().session() as s:
                row = report.require_published(s, m)
                content, digest = (row.xlsx, row.xlsx_sha256) if kind == "xlsx" else (row.html, row.html_sha256)
        except AppError as exc:
            raise _fail(exc) from None
        _write(out, kind, content)
        console.print(f"已发布 published {m} → {out} ({'printed from HTML ' if kind == 'pdf' else ''}sha256 {digest})")

    return app
