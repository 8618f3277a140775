"""`yunwang cloud …`: resume/retire a provisioning run, run the capacity/drift sweep, show a step log."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table

from inventory.db import Database
from orchestrator import capacity
from orchestrator.provision import resume, retire, steps_of
from orchestrator.settings import Settings

console = Console()


def make_app(settings: Callable[[], Settings]) -> typer.Typer:
    app = typer.Typer(help="Clouds: provisioning runs, capacity and drift / 云资源", no_args_is_help=True)

    def registry():  # type: ignore[no-untyped-def]
        s = settings()
        if s.clouds_yaml is None:
            console.print("[red]set YUNWANG_CLOUDS_YAML[/red]")
            raise typer.Exit(2)
        from orchestrator.clouds import CloudRegistry

        return Database(s.database_url), CloudRegistry(s.clouds_yaml)

    @app.command("resume")
    def resume_cmd(request_id: str, cloud: str = typer.Option(..., help="clouds.yaml entry")) -> None:
        """Continue a run whose process died, or finish its rollback/retirement."""
        db, reg = registry()
        out = resume(db, request_id, reg.driver(cloud))
        console.print(f"ok={out.ok} rolled_back={out.rolled_back} resources={len(out.resources)} error={out.error}")
        raise typer.Exit(0 if out.ok or out.rolled_back else 1)

    @app.command("retire")
    def retire_cmd(request_id: str, cloud: str = typer.Option(..., help="clouds.yaml entry")) -> None:
        """Delete exactly what a request created in one cloud."""
        db, reg = registry()
        out = retire(db, request_id, reg.driver(cloud))
        console.print(f"ok={out.ok} error={out.error}")
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
