"""The app factory: settings, database, routers, error handlers and background components."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from core.db import Database
from core.http import RequestContext, install_docs, install_openapi
from core.jobs import JobOutcome, Jobs
from core.permissions import gate
from core.responses import HealthOut
from dashboards import metrics as rates_metrics
from dashboards.api import build_router as rates_router
from dashboards.office import STATIC_PATH, WEB_DIR
from dashboards.office import build_router as office_router
from dashboards.report_api import build_router as reports_router
from inventory.api import add_error_handlers
from inventory.api import build_router as inventory_router
from migrations_plan.api import build_router as plan_router
from migrations_plan.planning import scheduled_lookback
from orchestrator.app.extranet import install_collectors
from orchestrator.app.permissions import PERMISSIONS
from orchestrator.app.plan_capacity import plan_capacity
from orchestrator.app.settings import Settings
from orchestrator.provisioning.api import install as install_clouds
from orchestrator.requests.api import install as install_scheduler

log = logging.getLogger("yunwang.http")


@dataclass
class Components:
    """Things started with the app and stopped with it (schedulers, metric recomputers)."""

    starters: list[Callable[[FastAPI], Any]] = field(default_factory=list)
    stoppers: list[Callable[[FastAPI], Any]] = field(default_factory=list)


def create_app(
    settings: Settings | None = None,
    registry: CollectorRegistry | None = None,
    database: Database | None = None,
) -> FastAPI:
    """Build the yunwang app; nothing happens at import time, and tests pass their own registry."""
    settings = settings or Settings()
    db = database or Database(settings.database_url)
    components = Components()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for start in components.starters:
            result = start(app)
            if isinstance(result, Awaitable):
                await result
        try:
            yield
        finally:
            for stop in reversed(components.stoppers):
                result = stop(app)
                if isinstance(result, Awaitable):
                    await result
            if database is None:
                db.dispose()

    app = FastAPI(
        title="yunwang 云网",
        version="0.1.0",
        description="云网统筹：清单、三个100%、外网探测、多云共治与迁移规划 / "
        "cloud-and-network orchestration for the Guangxi e-government",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(gate(PERMISSIONS))],  # the one permission table gates every route
    )
    app.state.settings = settings
    app.state.db = db
    app.state.registry = registry or CollectorRegistry()
    app.state.components = components
    add_error_handlers(app)

    # Request ids, the one error body (500s included, connection kept), security headers, no-store on /api.
    app.add_middleware(RequestContext)
    install_openapi(app)
    install_docs(app)  # /docs and /redoc from installed assets, no CDN

    app.include_router(inventory_router())
    app.include_router(rates_router())
    app.include_router(reports_router())
    app.include_router(office_router())
    app.mount(STATIC_PATH, StaticFiles(directory=WEB_DIR), name="office-static")
    exporter = rates_metrics.install(app, db, app.state.registry, settings.metrics_recompute_seconds)
    components.starters.append(exporter.start)
    components.stoppers.append(exporter.stop)
    # The app's single scheduler; packages add their jobs with app.state.jobs.add_interval(...).
    app.state.jobs = jobs = Jobs(db)
    collectors = install_collectors(app, jobs)
    components.starters.insert(0, lambda a: collectors.check_credential_key())  # before anything else runs
    app.include_router(plan_router())
    app.state.plan_capacity = plan_capacity  # free capacity per target cloud, from the newest samples
    install_scheduler(app)  # resource requests, approval, placement, provisioning, events, quotas
    install_clouds(app)  # capacity, drift, provisioning step log; periodic sweep when clouds.yaml is set
    jobs.add_interval("plan_lookback", lambda: JobOutcome(*scheduled_lookback(db)), 86400, 600)  # daily 回头看
    if settings.scheduler_enabled:
        components.starters.append(lambda a: a.state.jobs.start())
        components.stoppers.append(lambda a: a.state.jobs.stop())

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Health: the service and its database answer (no auth)",
        response_model=HealthOut,
    )
    def healthz() -> dict[str, str]:
        with db.read_session() as s:
            s.execute(text("SELECT 1"))  # a lost database raises OperationalError → 503 in the error shape
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
