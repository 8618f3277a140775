"""`yunwang probe NODE_CODE`: start a probe-now job through the API and follow it with a progress bar."""

from __future__ import annotations

import time
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

API = "/api/v1"


class ProbeFailed(Exception):
    """The API refused the probe or the job failed; the message is the API's (never a secret)."""


def _check(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:200]
        raise ProbeFailed(f"HTTP {r.status_code}: {message}")
    return r.json()


def run_probe(
    client: httpx.Client,
    node_code: str,
    kinds: list[str],
    subtree: bool,
    console: Console,
    poll_seconds: float = 0.2,
    timeout_seconds: float = 3600,
) -> dict[str, Any]:
    """Find the node by code, start the job, show its progress until it ends; the finished job."""
    found = _check(client.get(f"{API}/inventory/extranet_nodes", params={"code": node_code}))["items"]
    if not found:
        raise ProbeFailed(f"没有编码为 {node_code} 的外网节点 / no extranet node with code {node_code}")
    job = _check(
        client.post(f"{API}/collectors/probe", json={"node_id": found[0]["id"], "subtree": subtree, "kinds": kinds})
    )
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    deadline = time.monotonic() + timeout_seconds
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"探测 probing {node_code}", total=job["progress"]["total"])
        while job["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(poll_seconds)
            job = _check(client.get(f"{API}/collectors/probe-jobs/{job['job_id']}"))
            current = job["progress"]["current"]
            bar.update(task, completed=job["progress"]["done"], description=f"探测 probing {node_code} {current or ''}")
        bar.update(task, completed=job["progress"]["done"])
    table = Table(
        "kind", "targets", "failures", "seconds", "state changes", title=f"job {job['job_id']}: {job['status']}"
    )
    for s in job["sweeps"]:
        table.add_row(
            s["kind"], str(s["targets"]), str(s["failures"]), f"{s['seconds']:.2f}", str(len(s["state_changes"]))
        )
    console.print(table)
    if job["status"] != "succeeded":
        raise ProbeFailed(f"job {job['job_id']} {job['status']}: {job.get('error') or 'still running'}")
    finished: dict[str, Any] = job
    return finished


def register(app: typer.Typer, console: Console) -> None:
    @app.command("probe")
    def probe(
        node_code: str = typer.Argument(..., help="extranet node code / 外网节点编码"),
        kind: list[str] = typer.Option(["icmp", "tcp"], "--kind", help="icmp, tcp, ssh, snmp (repeat for several)"),
        subtree: bool = typer.Option(False, "--subtree", help="the node and every node below it"),
        url: str = typer.Option("http://127.0.0.1:8080", "--url", envvar="YUNWANG_URL", help="the yunwang API"),
        token: str = typer.Option(..., "--token", envvar="YUNWANG_TOKEN", help="API token (network_admin)"),
    ) -> None:
        """Probe a node now (a job on the server) and follow its progress / 立即探测节点并显示进度."""
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            try:
                run_probe(client, node_code, kind, subtree, console)
            except (ProbeFailed, httpx.HTTPError) as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from None
