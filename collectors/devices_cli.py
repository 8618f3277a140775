"""`yunwang devices …`: SSH collection status per device (last success, last error and reason, facts age)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import typer
from rich.console import Console
from rich.table import Table

from collectors import device_status
from inventory.db import Database

BEIJING = timezone(timedelta(hours=8))


def _local(value: str | None) -> str:
    """An ISO time shown in Beijing time, with its offset."""
    return datetime.fromisoformat(value).astimezone(BEIJING).isoformat(timespec="seconds") if value else "-"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 86400}d{s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h{s % 3600 // 60}m{s % 60}s"


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
            table = Table(
                "device / 设备",
                "node / 节点",
                "status / 状态",
                "last success / 最近成功",
                "last error / 最近失败",
                "reason / 原因",
                "facts age / 数据时长",
                "stale / 过期",
                title="SSH collection / 设备采集",
            )
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
            Console().print(table)  # made here: it reads the terminal width (COLUMNS) now
        raise typer.Exit(1 if any(r["status"] == "failing" for r in rows) else 0)

    return app
