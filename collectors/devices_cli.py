"""`yunwang devices …`: SSH collection status per device (last success, last error and reason, facts age)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from collectors import device_status
from core.db import Database
from core.times import BEIJING

TIME_WIDTH = len("2026-12-01T09:00:00+08:00")
REASON_WIDTH = max(len(r.value) for r in device_status.SSH_REASONS)


def _local(value: str | None) -> str:
    """An ISO time shown in Beijing time, with its offset."""
    return datetime.fromisoformat(value).astimezone(BEIJING).isoformat(timespec="seconds") if value else "-"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 86400}d{s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h{s % 3600 // 60}m{s % 60}s"


WIDE = 150  # below this the table is laid out in fewer, taller columns


def _table(rows: list[dict[str, Any]], width: int) -> Table:
    """The status table. Reason codes and times are never cut: they do not wrap and keep their full width;
    on a narrow terminal (e.g. 80 columns) success/error times share one column (one line each), the node
    goes under the device and staleness under the status, and only those columns wrap."""
    title = "SSH collection / 设备采集"
    if width >= WIDE:
        table = Table(title=title)
        for name in ("device / 设备", "node / 节点", "status / 状态"):
            table.add_column(name)
        for name in ("last success / 最近成功", "last error / 最近失败", "reason / 原因"):
            table.add_column(name, no_wrap=True, min_width=TIME_WIDTH if "last" in name else REASON_WIDTH)
        table.add_column("facts age / 数据时长")
        table.add_column("stale / 过期")
        for r in rows:
            table.add_row(
                r["code"],
                r["node"],
                r["status"],
                _local(r["last_success_at"]),
                _local(r["last_error_at"]),
                r["last_error"] or "-",
                _age(r["facts_age_seconds"]),
                "yes / 是" if r["facts_stale"] else "no / 否",
            )
        return table
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    table.add_column("device / 设备\nnode / 节点", overflow="fold")
    table.add_column("status\n状态", min_width=len("failing"))
    table.add_column("✓ last success / 最近成功\n✗ last error / 最近失败", no_wrap=True, min_width=TIME_WIDTH + 2)
    table.add_column("reason / 原因", no_wrap=True, min_width=REASON_WIDTH)
    table.add_column("age\n时长", overflow="fold")
    for r in rows:
        table.add_row(
            f"{r['code']}\n{r['node']}",
            r["status"] + ("\nstale / 过期" if r["facts_stale"] else ""),
            f"✓ {_local(r['last_success_at'])}\n✗ {_local(r['last_error_at'])}",
            r["last_error"] or "-",
            _age(r["facts_age_seconds"]),
        )
    return table


def make_app(database: Callable[[], Database]) -> typer.Typer:
    app = typer.Typer(help="Devices: SSH collection status / 设备采集状态", no_args_is_help=True)

    @app.callback()
    def main() -> None:
        """Devices: SSH collection status / 设备采集状态"""

    @app.command("status")
    def status_cmd(
        failing: bool = typer.Option(False, "--failing", help="only devices whose newest collection failed / 仅失败"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """Per device: last success, last error and reason, facts age and staleness. Exit 1 if any fails."""
        db = database()
        try:
            with db.session() as s:
                rows = device_status.describe(s)
        finally:
            db.dispose()
        if failing:
            rows = [r for r in rows if r["status"] == "failing"]
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            console = Console()  # made here: it reads the terminal width (COLUMNS) now
            console.print(_table(rows, console.width))
        raise typer.Exit(1 if any(r["status"] == "failing" for r in rows) else 0)

    return app
