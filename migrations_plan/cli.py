"""`yunwang plan …`: readiness, zombie candidates, wave plans, XLSX export and the look-back (typer + rich).

The orchestrator's CLI builds this app with `make_app(open_db, capacity)`, so this package never reads settings
itself; `capacity` is the same provider the API uses (PlanServices.capacity), so CLI and API plan alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import AppError, Problem, ValidationFailed
from core.times import today_beijing
from migrations_plan import export, guards, planning, store
from migrations_plan.facts import Capacity
from migrations_plan.planning import CapacityProvider
from migrations_plan.readiness import OUTCOME_ZH, Outcome

console = Console()


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console)


@contextmanager
def domain_errors() -> Iterator[None]:
    """A refused command prints one line (the error and its problems, Chinese first) and exits 1, no traceback."""
    try:
        yield
    except AppError as exc:
        details = "; ".join(p.message for p in exc.problems if p.message not in exc.message)
        console.print(
            f"[red]错误 / error: {exc.message}" + (f" — {details}" if details else "") + "[/red]", soft_wrap=True
        )
        raise typer.Exit(1) from None


def _day(value: str | None, option: str) -> date:
    """A YYYY-MM-DD option (a Beijing date), or today; a date that does not exist is refused."""
    if value is None:
        return today_beijing()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{option} 不是有效日期：{value} / {option} is not a valid date: {value}",
            [
                Problem(
                    "日期须为实际存在的 YYYY-MM-DD / give a date that exists, as YYYY-MM-DD", field=option, value=value
                )
            ],
        ) from None


def make_app(  # noqa: C901 - the sum of independent nested commands, each simple
    open_db: Callable[[], Database], capacity: CapacityProvider | None = None
) -> typer.Typer:
    """The `plan` command group over the database that `open_db` returns (free capacity from `capacity`)."""
    app = typer.Typer(help="Migration planning / 迁移规划", no_args_is_help=True)

    def cap(session: Session) -> dict[int, Capacity] | None:
        got = capacity(session) if capacity is not None else None
        return dict(got) if got is not None else None

    @app.command("assess")
    def assess(
        outcome: Outcome | None = typer.Option(None, help="only this outcome"),
        limit: int = typer.Option(200, help="rows to show"),
    ) -> None:
        """Readiness of every system with its reasons / 迁移就绪度."""
        db = open_db()
        with domain_errors(), _progress() as p, db.session() as s:
            p.add_task("评估就绪度 / assessing readiness…")
            inv, got = planning.assess(s, cap(s))
        counts: dict[Outcome, int] = {}
        table = Table(
            "编码 code", "名称 name", "结论 outcome", "规格 flavor", "原因 reasons", title="迁移就绪度 / readiness"
        )
        for sid, a in got.items():
            counts[a.outcome] = counts.get(a.outcome, 0) + 1
            if (outcome and a.outcome != outcome) or table.row_count >= limit:
                continue
            table.add_row(
                a.code,
                inv.systems[sid].name,
                f"{OUTCOME_ZH[a.outcome]} {a.outcome.value}",
                a.sizing.flavor if a.sizing else "",
                "\n".join(r.text() for r in a.reasons),
            )
        console.print(table)
        console.print(", ".join(f"{OUTCOME_ZH[o]} {o.value}: {n}" for o, n in sorted(counts.items())))

    @app.command("zombies")
    def zombies(on: str | None = typer.Option(None, help="judge as of YYYY-MM-DD (default today)")) -> None:
        """Zombie candidates with the evidence behind each score / 僵尸系统候选."""
        db = open_db()
        with domain_errors(), db.session() as s:
            found = planning.zombies(s, _day(on, "--on"))
        table = Table("编码 code", "名称 name", "得分 score", "证据 evidence", title="僵尸系统候选 / zombie candidates")
        for z in found:
            table.add_row(
                z.code,
                z.name,
                f"{z.score:g}" + ("（12个月未使用 / unused 12 months）" if z.basis == "unused_12_months" else ""),
                "\n".join(f"{e.zh} / {e.en} (+{e.points:g}) {e.facts}" for e in z.evidence),
            )
        console.print(table)
        console.print(f"{len(found)} 个候选 / candidates")

    @app.command("waves")
    def waves(
        max_wave_size: int = typer.Option(50, min=1, help="most items per wave"),
        max_per_unit: int | None = typer.Option(None, min=1, help="most items of one unit per wave"),
        max_per_city: int | None = typer.Option(None, min=1, help="most items of one city per wave"),
        save: bool = typer.Option(False, "--save", help="store the plan (audited)"),
        name: str = typer.Option("迁移批次计划 / wave plan", help="name of the stored plan"),
        actor: str = typer.Option("cli", help="who computes it (change log)"),
    ) -> None:
        """Compute a wave plan and show it wave by wave / 分批迁移计划."""
        db = open_db()
        options = planning.Options(max_wave_size, max_per_unit, max_per_city)
        with domain_errors(), _progress() as p, db.session() as s:
            p.add_task("计算批次 / planning waves…")
            plan = planning.compute_plan(s, options, cap(s))
            if save:
                row = store.save_plan(s, plan, name, options.params(), ChangeContext(actor=actor, role=Role.ADMIN))
                s.flush()
                console.print(f"[green]已保存 / stored plan #{row.id}[/green]")
        table = Table("批次 wave", "编码 code", "类型 kind", "排批理由 why", title="迁移批次 / waves")
        for item in plan.items:
            table.add_row(str(item.wave or "—"), item.code, item.kind, "\n".join(item.reasons))
        console.print(table)
        s_ = store.summary(plan)
        console.print(
            f"批次 waves: {s_['waves']}, 排入 planned: {s_['planned']}, 未排入 unplanned: {s_['unplanned']}, "
            f"循环组 cycles: {len(plan.cycles)}"
        )

    @app.command("export")
    def export_cmd(
        out: Path = typer.Option(Path("wave-plan.xlsx"), "--out", "-o", help="XLSX file to write"),
        plan_id: int | None = typer.Option(None, help="a stored plan (default: compute a fresh one)"),
        max_wave_size: int = typer.Option(50, min=1),
    ) -> None:
        """Export a wave plan as XLSX (Chinese headers, English beside) / 导出计划."""
        db = open_db()
        with domain_errors(), db.session() as s:
            names = planning.Names.load(s)
            if plan_id is not None:
                row = store.get_plan(s, plan_id)
                items = store.plan_items(s, row.id)
                rows = planning.rows_from_items(items, names, guards.stale_notes(s, items))
                data = export.workbook(rows, row.summary, row.summary["cycles"])
            else:
                plan = planning.compute_plan(s, planning.Options(max_wave_size), cap(s))
                data = export.workbook(planning.rows_from_plan(plan, names), store.summary(plan), plan.cycles)
        out.write_bytes(data)
        console.print(f"[green]wrote {out} ({len(data)} bytes)[/green]")

    @app.command("show")
    def show(plan_id: int | None = typer.Argument(None, help="a stored plan (default: the newest)")) -> None:
        """A stored plan's items with their progress; items contradicting a decision in force are flagged stale."""
        db = open_db()
        with domain_errors(), db.session() as s:
            row = store.get_plan(s, plan_id)
            items = store.plan_items(s, row.id)
            stale = guards.stale_notes(s, items)
            table = Table(
                "批次 wave", "编码 code", "状态 status", "过期 stale", title=f"计划 #{row.id} {row.name} / stored plan"
            )
            for i in items:
                notes = "\n".join(n.text() for n in stale.get(i.id, []))
                table.add_row(str(i.wave or "—"), i.code, i.status.value, notes)
        console.print(table)
        console.print(f"{len(stale)} 项过期 / stale items")

    @app.command("lookback")
    def lookback(on: str | None = typer.Option(None, help="as of YYYY-MM-DD (default today)")) -> None:
        """Re-check migrated items and due determinations (回头看); findings are stored and logged."""
        db = open_db()
        with domain_errors(), db.session() as s:
            found = planning.run_lookback(
                s, ChangeContext(actor="cli", role=Role.ADMIN, message="回头看 / look-back"), _day(on, "--on")
            )
        table = Table("编码 code", "类型 kind", "问题 problem", "说明 finding", title="回头看 / look-back")
        for f in found:
            table.add_row(f.code, f.kind, f.problem, f.text())
        console.print(table)
        console.print(f"{len(found)} 项发现 / findings")

    return app
