"""`yunwang worker`: a Celery worker running the service's background tasks (core.tasks, docs/tasks.md).

Without options it consumes the central queues (`default`: provisioning, retirement; `probe`: probes of targets
no vantage is assigned to). `--vantage NAME` (a city node's worker) consumes only `probe.NAME`: the probe and
collection tasks of the targets assigned to that vantage (YUNWANG_VANTAGES).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable

import typer

from collectors import vantages
from collectors.vantages import PROBE_QUEUE, probe_queue
from core.db import Database
from core.logs import configure
from core.tasks.api import AppResources
from core.tasks.celery_app import run_worker
from core.tasks.registry import DEFAULT_QUEUE, REGISTRY, Resources
from core.wiring import DATABASE, services
from orchestrator.app.settings import Settings

log = logging.getLogger("yunwang.tasks")


def queues_for(queues: str | None, vantage: str | None) -> list[str]:
    """The queues a worker consumes: `--queues a,b`, else its vantage's probe queue, else the central ones."""
    if queues:
        return [q.strip() for q in queues.split(",") if q.strip()]
    if vantage:
        return [probe_queue(vantage)]
    return [DEFAULT_QUEUE, PROBE_QUEUE]


def register(app: typer.Typer, settings: Callable[[], Settings] = Settings) -> None:
    @app.command()
    def worker(
        queues: str | None = typer.Option(None, help="comma-separated queues (default: default,probe)"),
        vantage: str | None = typer.Option(None, help="consume only this vantage's probe queue (probe.<NAME>)"),
        pool: str = typer.Option("prefork", help="Celery pool: prefork, threads or solo"),
        concurrency: int = typer.Option(2, min=1, max=64, help="tasks run at once"),
        include: list[str] = typer.Option([], help="extra task modules to import (tests)"),
    ) -> None:
        """Run a background worker on the broker (YUNWANG_BROKER_URL) / 运行后台任务执行器."""
        s = settings()
        configure(s.log_level)
        broker = s.broker_url
        if broker is None:
            raise typer.BadParameter("YUNWANG_BROKER_URL is not set: without a broker, tasks run inside the service")
        if vantage is not None:
            if not vantages.NAME.match(vantage) or vantage == vantages.CENTRAL:
                raise typer.BadParameter(f"vantage {vantage!r}: a-z, 0-9, _ or - (not {vantages.CENTRAL!r})")
            assigned = vantages.parse(s.vantages)
            if assigned and vantage not in assigned:  # the API processes route by their own YUNWANG_VANTAGES
                log.warning("vantage %s is not in YUNWANG_VANTAGES here (%s)", vantage, ", ".join(sorted(assigned)))
            # the flag names this worker's vantage: its results and change-log entries carry it, whatever an
            # environment file says
            s = s.model_copy(update={"collector_vantage": vantage})
        for module in include:
            importlib.import_module(module)
        import orchestrator.app.tasks  # noqa: F401  (registers the service's tasks)

        def context() -> tuple[Database, Resources]:
            from orchestrator.app.factory import create_app

            app_ = create_app(s)  # the same services as the API process (clouds, collectors), no HTTP served
            return services(app_).get(DATABASE), AppResources(app_)

        consumed = queues_for(queues, vantage)
        log.info("worker %s: queues %s; tasks %s", vantage or "central", consumed, sorted(REGISTRY))
        # unique per process: two workers of one host under one node name share a mailbox (Celery warns and
        # remote control mixes them up); %h is the host name
        hostname = f"{vantage or 'central'}-{os.getpid()}@%h"
        run_worker(broker.get_secret_value(), context, consumed, pool, concurrency, hostname)
