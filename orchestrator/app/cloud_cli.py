"""`yunwang cloud …`: resume/retire provisioning (a whole request, or one cloud's run), run the capacity/drift
sweep, show a step log. Answers are messages with an exit code, never tracebacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import AppError
from core.identity import Principal
from orchestrator.app.settings import Settings
from orchestrator.provisioning import capacity
from orchestrator.provisioning.clouds import Clouds
from orchestrator.provisioning.runs import NoRun, resume, retire, steps_of
from orchestrator.requests import provisioning_hook as requests
from orchestrator.requests.lifecycle import RequestStatus
from orchestrator.requests.models import ResourceRequest

console = Console()
CLI = Principal(name="cli", role=Role.ADMIN)
CLI_CTX = ChangeContext(actor="cli", role=Role.ADMIN)
FINAL_OK = (RequestStatus.ACTIVE, RequestStatus.RETIRED)


if TYPE_CHECKING:
    from orchestrator.provisioning.openstack import CloudRegistry


def _request_id(db: Database, ref: str) -> int | None:
    """A request's id from its code (RR000042) or id (42); None when it is not a request of this database."""
    with db.session() as s:
        if ref.isdigit():
            return s.scalar(select(ResourceRequest.id).where(ResourceRequest.id == int(ref)))
        return s.scalar(select(ResourceRequest.id).where(ResourceRequest.code == ref))


def _code(db: Database, rid: int | None, ref: str) -> str:
    """The request id provisioning runs are filed under: the request's code, or `ref` as given."""
    if rid is None:
        return ref
    with db.session() as s:
        return str(s.scalar(select(ResourceRequest.code).where(ResourceRequest.id == rid)))


def make_app(settings: Callable[[], Settings]) -> typer.Typer:  # noqa: C901 - the sum of independent nested commands
    app = typer.Typer(help="Clouds: provisioning runs, capacity and drift / 云资源", no_args_is_help=True)

    def registry() -> tuple[Database, CloudRegistry]:
        s = settings()
        if s.clouds_yaml is None:
            console.print("[red]set YUNWANG_CLOUDS_YAML[/red]")
            raise typer.Exit(2)
        return Database(s.database_url), Clouds(s.clouds_yaml).registry()

    def driver(reg, cloud: str):  # type: ignore[no-untyped-def]
        try:
            return reg.driver(cloud)
        except KeyError:
            console.print(
                f"[red]clouds.yaml 中没有该云 / no cloud {cloud!r} in clouds.yaml[/red] ({', '.join(reg.names())})"
            )
            raise typer.Exit(2) from None

    def whole_request(db: Database, reg, rid: int, retiring: bool) -> NoReturn:  # type: ignore[no-untyped-def]
        managed = settings().cloud_quota_mode == "managed"
        try:
            if retiring:
                result = requests.retire(db, CLI, CLI_CTX, rid, reg.driver)
            else:
                result = requests.resume(db, CLI, CLI_CTX, rid, reg.driver, managed)
        except AppError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from None
        console.print(f"{result.status.value}" + (f": {result.message}" if result.message else ""))
        raise typer.Exit(0 if result.status in FINAL_OK else 1)

    def one_run_or_whole(
        request: str, cloud: str | None, retiring: bool
    ) -> tuple[Database, CloudRegistry, int | None, str]:
        """Without --cloud: the whole request, to its final state (never returns); else what one run needs."""
        db, reg = registry()
        rid = _request_id(db, request)
        if cloud is None:
            if rid is None:
                console.print(
                    f"[red]没有该申请 / no request {request!r}[/red] (give --cloud for a bare provisioning run)"
                )
                raise typer.Exit(1)
            whole_request(db, reg, rid, retiring=retiring)
        return db, reg, rid, cloud

    @app.command("resume")
    def resume_cmd(
        request: str = typer.Argument(..., help="request code (RR000042) or id; or a provisioning run's request id"),
        cloud: str | None = typer.Option(None, help="only this clouds.yaml entry's run"),
    ) -> None:
        """Bring an interrupted request to its final state (active, or failed with the reason; retiring → retired),
        or, with --cloud, continue/finish one cloud's run."""
        db, reg, rid, cloud = one_run_or_whole(request, cloud, retiring=False)
        try:
            out = resume(db, _code(db, rid, request), driver(reg, cloud))
        except NoRun as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        console.print(f"ok={out.ok} rolled_back={out.rolled_back} resources={len(out.resources)} error={out.error}")
        raise typer.Exit(0 if out.ok or out.rolled_back else 1)

    @app.command("retire")
    def retire_cmd(
        request: str = typer.Argument(..., help="request code (RR000042) or id; or a provisioning run's request id"),
        cloud: str | None = typer.Option(None, help="only this clouds.yaml entry's run"),
    ) -> None:
        """Delete exactly what a request created (every cloud, request → retired), or with --cloud one run."""
        db, reg, rid, cloud = one_run_or_whole(request, cloud, retiring=True)
        try:
            out = retire(db, _code(db, rid, request), driver(reg, cloud))
        except NoRun as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        console.print(f"ok={out.ok} deleted={out.deleted} error={out.error}")
        raise typer.Exit(0 if out.ok else 1)

    @app.command("sweep")
    def sweep_cmd() -> None:
        """Sample capacity and reconcile drift of every cloud now."""
        db, reg = registry()
        clouds, failures = capacity.sweep(db, lambda: [reg.driver(n) for n in reg.names()])
        console.print(f"clouds={clouds} failures={failures}")

    @app.command("steps")
    def steps_cmd(request_id: str) -> None:
        """The provisioning step log of a request."""
        table = Table("cloud", "seq", "key", "status", "cloud_id", "error")
        for s in steps_of(Database(settings().database_url), request_id):
            table.add_row(s["cloud"], str(s["seq"]), s["key"], s["status"], s["cloud_id"] or "", s["error"] or "")
        console.print(table)

    return app
