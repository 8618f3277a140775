"""The composition root: builds the app from settings by calling each package's `install(app, …)`.

Each install gets typed arguments (its settings, the Database, the one scheduler `core.jobs.Jobs`, the Prometheus
registry, the clouds) and adds its routers, jobs and metrics; what routes need at request time sits in the app's
one typed container (`core.wiring.services`) and is read through each package's dependency providers, which
tests replace with `app.dependency_overrides[...]`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from core import accounts_api, auth_api, oidc_api
from core import metrics as core_metrics
from core.db import Database
from core.errors import Problem, Unavailable
from core.http import RequestContext, install_docs, install_errors, install_openapi
from core.jobs import JobOutcome, Jobs
from core.notifications import api as notifications_api
from core.notifications.channels import SmtpConfig
from core.notifications.dispatch import DeliveryPolicy, Dispatcher
from core.permissions import gate
from core.responses import HealthOut, ReadyOut
from core.tasks import api as tasks_api
from core.tasks import engine as tasks_engine
from core.tasks.api import AppResources
from core.tasks.backends import InProcess, Tasks
from core.tasks.registry import Resources
from core.threads import limit_handlers
from core.wiring import DATABASE, JOBS, services
from dashboards import metrics as rates_metrics
from dashboards import rate_alerts, snapshot_job
from dashboards.api import build_router as rates_router
from dashboards.office import STATIC_PATH, WEB_DIR
from dashboards.office import build_router as office_router
from dashboards.report_api import build_router as reports_router
from inventory import api as inventory_api
from migrations_plan import api as plan_api
from migrations_plan.planning import scheduled_lookback
from orchestrator.app.auth_wiring import auth_config, oidc_config
from orchestrator.app.collectors_wiring import install_collectors
from orchestrator.app.permission_table import PERMISSIONS
from orchestrator.app.plan_wiring import plan_services
from orchestrator.app.settings import Settings
from orchestrator.console import api as console_api
from orchestrator.console import pages as console_pages
from orchestrator.provisioning import api as provisioning_api
from orchestrator.provisioning.clouds import Clouds
from orchestrator.requests import api as requests_api
from orchestrator.requests import auto_resume
from orchestrator.requests import service as request_service

log = logging.getLogger("yunwang.http")


@dataclass
class Components:
    """Things started with the app and stopped with it (schedulers, metric recomputers)."""

    starters: list[Callable[[FastAPI], Any]] = field(default_factory=list)
    stoppers: list[Callable[[FastAPI], Any]] = field(default_factory=list)


def requests_config(s: Settings) -> requests_api.RequestsConfig:
    """The request scheduler's part of the settings."""
    return requests_api.RequestsConfig(
        request_service.auto_rules_from(s), request_service.policy_from(s), s.cloud_quota_mode == "managed"
    )


def notify_dispatcher(s: Settings, db: Database) -> Dispatcher:
    """The notification dispatcher from the YUNWANG_SMTP_* and YUNWANG_NOTIFY_* settings."""
    password = s.smtp_password.get_secret_value() if s.smtp_password else None
    smtp = SmtpConfig(s.smtp_host, s.smtp_port, s.smtp_from, s.smtp_starttls, s.smtp_user, password)
    return Dispatcher(db, smtp, DeliveryPolicy(max_attempts=s.notify_max_attempts, backoff_s=s.notify_backoff_seconds))


def task_engine(s: Settings, db: Database, resources: Resources) -> Tasks:
    """The one task layer: Celery on the broker when YUNWANG_BROKER_URL is set, else a thread pool here."""
    import orchestrator.app.tasks  # noqa: F401  (registers every task)

    if s.broker_url is not None:
        from core.tasks.celery_app import CeleryBackend

        return Tasks(db, CeleryBackend(s.broker_url.get_secret_value()))
    return Tasks(db, InProcess(db, resources, s.task_threads))


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
        limit_handlers(settings.api_threads)  # core/threads.py: the handler threads of this process
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
    registry = registry or CollectorRegistry()
    container = services(app)
    container.provide(DATABASE, db)
    # the app's single scheduler (one run per slot across replicas, docs/replicas.md); packages add their jobs in install
    jobs = container.provide(JOBS, Jobs(db, lease_seconds=settings.scheduler_lease_seconds))
    tasks = task_engine(settings, db, AppResources(app))  # background work: in-process pool or Celery
    tasks_api.install(app, tasks)
    clouds = Clouds(settings.clouds_yaml)  # the one clouds.yaml registry (drivers opened on first use)
    if settings.demo_cloud and settings.clouds_yaml is None:  # the plain demo: simulated clouds, labelled as such
        clouds = Clouds.in_memory_demo()
        logging.getLogger("yunwang.clouds").warning("clouds: %s (%s)", clouds.label, ", ".join(clouds.names()))

    install_errors(app)  # the one error body for every route, and the input guard
    inventory_api.install(app, settings.max_upload_bytes)
    # Request ids, the one error body (500s included, connection kept), security headers, no-store on /api.
    app.add_middleware(RequestContext)
    install_openapi(app)
    install_docs(app)  # /docs and /redoc from installed assets, no CDN

    auth_api.install(app, auth_config(settings))  # sign-in, sessions (cookies + CSRF)
    oidc = oidc_config(settings)
    oidc_api.install(app, oidc)  # single sign-on (统一身份认证), when YUNWANG_OIDC_* is set
    accounts_api.install(app)
    app.include_router(rates_router())
    app.include_router(reports_router())
    app.include_router(office_router())
    app.mount(STATIC_PATH, StaticFiles(directory=WEB_DIR), name="office-static")
    console_pages.install(app, single_sign_on=oidc is not None)  # GET / (the console) and its assets
    console_api.install(app)  # GET /api/v1/me (a token or a session: core.auth_api.who)
    core_metrics.install(app, registry)  # /metrics and the HTTP latency middleware
    rates_metrics.install(app, db, registry, jobs, settings.metrics_recompute_seconds)
    collectors = install_collectors(app, settings, db, registry, jobs, components.stoppers)
    components.starters.insert(0, lambda a: collectors.check_credential_key())  # before anything else runs
    flavors = requests_api.install(app, db, requests_config(settings), clouds, registry)
    plan_api.install(app, plan_services(flavors))
    provisioning_api.install(app, db, clouds, registry, jobs)  # capacity, drift, step log; periodic sweep
    auto_resume.install(jobs, db, clouds, settings)  # a provisioning whose process died finishes by itself
    jobs.add_interval("plan_lookback", lambda: JobOutcome(*scheduled_lookback(db)), 86400, 600)  # daily 回头看
    notifications_api.install(
        app, db, jobs, notify_dispatcher(settings, db), settings.notify_dispatch_seconds, settings.scheduler_enabled
    )  # outbox dispatcher; "dispatch now" after commits
    jobs.add_interval(rate_alerts.JOB_ID, lambda: rate_alerts.check_month_end(db), 86400, 600)  # month-end targets
    jobs.add_interval(snapshot_job.JOB_ID, lambda: snapshot_job.take_month_end(db), 86400, 600)  # as-of reads
    # Per-process jobs (the rates snapshot) always run; the persistent, leased jobs only when enabled.
    components.starters.append(lambda a: jobs.start(persistent=settings.scheduler_enabled))
    components.stoppers.append(lambda a: jobs.stop())
    components.starters.append(lambda a: tasks.recover())  # in-process: jobs a dead process left run again
    jobs.add_interval(  # jobs whose worker died elsewhere or whose message never reached the broker
        tasks_engine.REQUEUE_JOB,
        lambda: JobOutcome(targets=tasks.requeue(tasks_engine.QUEUED_TOO_LONG)),
        60,
        6,
        tasks.ready,  # a replica that cannot reach the broker leaves the slot to one that can
    )
    jobs.add_interval(  # finished jobs (rows, results, files) older than YUNWANG_TASK_RETENTION_DAYS
        tasks_engine.RETENTION_JOB,
        lambda: JobOutcome(targets=tasks_engine.purge_finished(db, settings.task_retention_days)),
        86400,
        600,
    )
    components.stoppers.append(lambda a: tasks.stop())  # stopped first: in-process jobs finish while all is up

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

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Ready: the database and the task broker (when configured) answer (no auth)",
        response_model=ReadyOut,
        responses={503: {"description": "not ready: the database or the configured broker cannot be reached"}},
    )
    def readyz() -> dict[str, str]:
        """For load balancers and rolling restarts: 503 (the one error shape) while the broker is unreachable;
        the answer about the broker is at most a few seconds old (one connection per few seconds)."""
        with db.read_session() as s:
            s.execute(text("SELECT 1"))
        if not tasks.ready():
            raise Unavailable(
                "任务队列不可达，暂不就绪 / not ready: the task broker cannot be reached",
                [Problem("broker unreachable", field="broker")],
            )
        return {"status": "ready", "broker": tasks.backend.name}

    return app
