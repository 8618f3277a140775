"""`yunwang request …` and `yunwang quota …`: read requests, their placement explanation and events; set quotas.

The command line acts as the admin (`cli` in the change log), through the same service functions as the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import AppError
from core.identity import Principal
from inventory.models import Unit
from orchestrator.provisioning.models import ProvisionRun
from orchestrator.requests import quotas
from orchestrator.requests import service as svc
from orchestrator.requests.lifecycle import RequestStatus
from orchestrator.requests.models import UnitQuota

CLI = Principal(name="cli", role=Role.ADMIN)
console = Console()


def make_app(database: Callable[[], Database]) -> tuple[typer.Typer, typer.Typer]:
    """The `request` and `quota` command groups."""
    req = typer.Typer(help="Resource requests / 资源申请", no_args_is_help=True)
    quota = typer.Typer(help="Unit quotas / 配额", no_args_is_help=True)

    @req.command("list")
    def list_(status: RequestStatus | None = typer.Option(None), limit: int = 100) -> None:
        """Requests with their state and placement."""
        with database().session() as s:
            rows = svc.list_requests(s, CLI, status=status, limit=limit)
            t = Table("id", "code", "unit", "status", "dr", "vCPUs", "primary", "replica")
            for r in rows:
                t.add_row(
                    str(r.id),
                    r.code,
                    str(r.unit_id),
                    r.status.value,
                    r.dr_level.value,
                    str(r.d_vcpus),
                    r.primary_cloud or "",
                    r.replica_cloud or "",
                )
        console.print(t)

    @req.command("show")
    def show(request_id: int) -> None:
        """One request: its state, placement explanation and events."""
        try:
            with database().session() as s:
                r = svc.get(s, CLI, request_id)
                console.print(f"[bold]{r.code}[/bold] {r.title} — {r.status.value} (unit {r.unit_id})")
                if r.failure_reason:
                    console.print(f"[red]failure:[/red] {r.failure_reason}")
                if r.placement:
                    console.print_json(json.dumps(r.placement, ensure_ascii=False))
                for run in s.scalars(select(ProvisionRun).where(ProvisionRun.request_id == r.code)):
                    console.print(f"run {run.cloud}: {run.status.value}" + (f" — {run.error}" if run.error else ""))
                for e in svc.events(s, CLI, request_id=r.id, limit=1000):
                    console.print(f"{e.at:%Y-%m-%d %H:%M} {e.kind.value:<15} {e.actor:<24} {e.message or ''}")
        except AppError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from None

    @quota.command("set")
    def set_(
        unit: str = typer.Argument(..., help="unit code"),
        vcpus: int | None = None,
        ram_mb: int | None = None,
        disk_gb: int | None = None,
        instances: int | None = None,
        floating_ips: int | None = None,
    ) -> None:
        """Set a unit's limits (checked against its parent's and children's; audited)."""
        given = {
            "vcpus": vcpus,
            "ram_mb": ram_mb,
            "disk_gb": disk_gb,
            "instances": instances,
            "floating_ips": floating_ips,
        }
        try:
            with database().session() as s:
                unit_id = s.scalar(select(Unit.id).where(Unit.code == unit))
                if unit_id is None:
                    raise typer.BadParameter(f"no unit {unit}")
                row = quotas.set_limits(
                    s,
                    ChangeContext(actor="cli", role=Role.ADMIN),
                    unit_id,
                    {k: v for k, v in given.items() if v is not None},
                )
                console.print(f"{unit}: {quotas.limits_of(row)}")
        except AppError as exc:
            console.print(f"[red]{exc.message}[/red]: " + "; ".join(p.message for p in exc.problems))
            raise typer.Exit(1) from None

    @quota.command("show")
    def show_quota(unit: str = typer.Argument(..., help="unit code")) -> None:
        """A unit's limits, usage and every limited ancestor's subtree usage."""
        with database().session() as s:
            unit_id = s.scalar(select(Unit.id).where(Unit.code == unit))
            if unit_id is None:
                raise typer.BadParameter(f"no unit {unit}")
            console.print(
                f"limits {quotas.limits_of(s.get(UnitQuota, unit_id))}; usage {quotas.usage_of(s, unit_id).as_dict()}"
            )
            for lv in quotas.chain_for(s, unit_id):
                console.print(f"  unit {lv.unit_id}: limits {lv.limits}, subtree used {lv.used.as_dict()}")

    return req, quota
