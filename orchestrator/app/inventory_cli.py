"""`yunwang import / export / template`: spreadsheets in and out of the inventory from the shell."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.audit import ChangeContext
from core.db import Database
from core.errors import AppError
from core.identity import unit_subtree
from inventory.io import exporting
from inventory.io import importing as io
from inventory.io.cells import CellError, read_datetime
from inventory.io.spreadsheets import format_of, read_table
from inventory.kinds import KINDS
from inventory.models import Unit
from orchestrator.app.settings import Settings

console = Console()
ACTION_STYLE = {"create": "green", "update": "yellow", "unchanged": "dim", "error": "red"}


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}", param_hint="KIND")
    return kind


def _database() -> Database:
    s = Settings()
    s.ensure_dirs()
    return Database(s.database_url)


def show_report(report: io.ImportReport, limit: int = 50) -> None:
    """The diff as a table (rows that change or fail first), then the counts."""
    table = Table("行 row", "编码 code", "操作 action", "变化 changes", "问题 problems", show_lines=False)
    interesting = [r for r in report.rows if r.action != "unchanged"]
    for r in sorted(interesting, key=lambda r: (r.action != "error", r.row))[:limit]:
        changes = "; ".join(f"{k}: {b or '∅'} → {a or '∅'}" for k, (b, a) in r.changes.items())
        problems = "\n".join(p.message for p in r.problems)
        style = ACTION_STYLE[r.action]
        table.add_row(str(r.row), r.code or "", f"[{style}]{r.action}[/{style}]", changes[:200], problems)
    for p in report.problems:
        table.add_row(str(p.row or ""), "", "[red]error[/red]", "", p.message)
    if report.header_note:
        console.print(report.header_note)
    notices = [n for r in report.rows for n in r.notices]
    for note in notices[:limit]:
        console.print(f"[dim]{note.message}[/dim]")
    if len(notices) > limit:
        console.print(f"… {len(notices) - limit} more notices not shown")
    if table.row_count:
        console.print(table)
    if len(interesting) > limit:
        console.print(f"… {len(interesting) - limit} more rows not shown")
    c = report.counts
    verdict = (
        "applied / 已写入" if report.applied else ("dry run / 预览" if report.dry_run else "nothing written / 未写入")
    )
    console.print(
        f"[bold]{report.kind}[/bold]: create 新建 {c['create']}, update 更新 {c['update']}, "
        f"unchanged 不变 {c['unchanged']}, errors 错误 {c['error'] + len(report.problems)} — {verdict}"
    )


def import_command(
    kind: str = typer.Argument(..., help="inventory kind, e.g. systems"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help=".csv or .xlsx"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the diff; write nothing"),
    actor: str = typer.Option(getpass.getuser(), help="recorded in the change log"),
    message: str | None = typer.Option(None, "--message", "-m", help="reason recorded in the change log"),
    show: int = typer.Option(50, help="rows of the diff to print"),
    history_since: str | None = typer.Option(
        None,
        "--history-since",
        help="new objects are on record since this date/time (no offset = Beijing time); "
        "default: the earliest status date in the file / 在册起始时间",
    ),
) -> None:
    """Import a CSV/XLSX file into one kind: all rows or none (exit code 1 on any error)."""
    _kind(kind)
    since = None
    if history_since is not None:
        try:
            since = read_datetime(history_since)
        except CellError as exc:
            console.print(f"[red]--history-since: {exc}[/red]")
            raise typer.Exit(2) from None
    db = _database()
    ctx = ChangeContext(actor=actor, role="admin", message=message, history_since=since)
    try:
        table = read_table(file.read_bytes(), file.name)
        with (
            db.sessions() as session,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task(f"{kind} ({len(table.rows)} rows)", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if dry_run:
                report = io.plan_import(session, kind, table, ctx, progress)
                session.rollback()
            else:
                report = io.apply_import(session, kind, table, ctx, progress)
                if report.applied:
                    session.commit()
                else:
                    session.rollback()
    except AppError as exc:
        console.print(f"[red]{exc.message}[/red]")
        for p in exc.problems:
            console.print(
                f"  [red]{p.message}[/red]" + (f" (row {p.row})" if p.row and str(p.row) not in p.message else "")
            )
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    show_report(report, show)
    if not report.ok:
        raise typer.Exit(1)


def export_command(
    kind: str = typer.Argument(..., help="inventory kind, e.g. systems"),
    file: Path = typer.Argument(..., dir_okay=False, help="target .csv or .xlsx"),
    unit: str | None = typer.Option(None, help="only this unit code's subtree"),
) -> None:
    """Export one kind to CSV/XLSX (format from the extension); it re-imports to no change."""
    _kind(kind)
    db = _database()
    try:
        with db.session() as session:
            units = None
            if unit:
                found = session.query(Unit).filter_by(code=unit).one_or_none()
                if found is None:
                    raise typer.BadParameter(f"unknown unit code {unit!r}", param_hint="--unit")
                units = unit_subtree(session, found.id)
            rows = exporting.export_rows(session, kind, units)
        fmt = format_of(file.name)
        file.write_bytes(
            exporting.write_xlsx_rows(kind, rows) if fmt == "xlsx" else exporting.write_csv_rows(kind, rows)
        )
    finally:
        db.dispose()
    console.print(f"{len(rows)} {kind} → {file}")


def template_command(
    kind: str = typer.Argument(..., help="inventory kind, e.g. systems"),
    file: Path = typer.Argument(..., dir_okay=False, help="target .csv or .xlsx"),
) -> None:
    """Write a blank import template (XLSX includes a 说明 Notes sheet with the columns and allowed values)."""
    _kind(kind)
    file.write_bytes(exporting.template(kind, format_of(file.name)))
    console.print(f"template for {kind} → {file}")


def register(app: typer.Typer) -> None:
    """Add the import, export and template commands to the CLI."""
    app.command("import")(import_command)
    app.command("export")(export_command)
    app.command("template")(template_command)
