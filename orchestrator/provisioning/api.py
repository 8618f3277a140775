"""API of the cloud side: capacity, drift, and the provisioning step log of a request (admin, cloud operator,
cloud chief office; everyone else gets 403). Also wires the periodic capacity/drift sweep and the metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from sqlalchemy import func, select

from core.db import Database
from core.deps import CurrentPrincipal, DatabaseDep, SessionDep
from core.errors import NotFound, Problem
from core.jobs import JobOutcome, Jobs
from core.responses import Number
from core.times import OutputTime, iso
from core.wiring import Key, provider, services
from orchestrator.provisioning import capacity
from orchestrator.provisioning.clouds import Clouds
from orchestrator.provisioning.models import DriftReport
from orchestrator.provisioning.runs import steps_of

PREFIX = "/api/v1/clouds"
SWEEP_JOB = "cloud_capacity_drift"


class Amount(BaseModel):
    """Total and used of one resource class (e.g. VCPU, MEMORY_MB, DISK_GB)."""

    total: Number
    used: int


class CloudCapacityOut(BaseModel):
    """The newest capacity sample of a cloud: totals and per host, by resource class."""

    cloud: str
    at: OutputTime
    totals: dict[str, Amount]
    hosts: dict[str, dict[str, Amount]]
    simulated: bool = False  # the plain demo's in-memory cloud: nothing is created anywhere
    label: str | None = None  # "内存模拟云 in-memory demo cloud — nothing is created anywhere" when simulated


class DriftOut(BaseModel):
    cloud: str
    at: OutputTime
    ok: bool
    error: str | None
    missing: int
    changed: int
    unknown: int
    findings: list[dict[str, Any]]


class CloudSweepOut(BaseModel):
    clouds: int
    failures: int


class StepOut(BaseModel):
    """One provisioning step of a request on one cloud (cloud ids only; never credentials)."""

    cloud: str
    run_status: str
    seq: int
    key: str
    kind: str
    name: str
    cloud_id: str | None
    status: str
    owned: bool
    error: str | None
    updated_at: OutputTime | None


CLOUDS: Key[Clouds] = Key("clouds")
get_clouds = provider(CLOUDS)
CloudsDep = Annotated[Clouds, Depends(get_clouds)]


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["clouds / 云资源"])

    @router.get("/capacity", summary="Newest capacity per cloud / 各云容量", response_model=list[CloudCapacityOut])
    def get_capacity(session: SessionDep, clouds_: CloudsDep, p: CurrentPrincipal) -> list[dict[str, Any]]:
        rows = capacity.latest_samples(session)
        out: dict[str, dict[str, Any]] = {}
        label = {"simulated": clouds_.label is not None, "label": clouds_.label}
        for r in rows:
            c = out.setdefault(r.cloud, {"cloud": r.cloud, "at": iso(r.at), "totals": {}, "hosts": {}, **label})
            c["hosts"].setdefault(r.host, {})[r.resource_class] = {"total": r.total, "used": r.used}
            t = c["totals"].setdefault(r.resource_class, {"total": 0.0, "used": 0})
            t["total"] += r.total
            t["used"] += r.used
        return list(out.values())

    @router.get("/drift", summary="Newest drift report per cloud / 资源漂移", response_model=list[DriftOut])
    def get_drift(session: SessionDep, p: CurrentPrincipal) -> list[dict[str, Any]]:
        last = select(DriftReport.cloud, func.max(DriftReport.id).label("id")).group_by(DriftReport.cloud).subquery()
        reps = session.scalars(select(DriftReport).join(last, last.c.id == DriftReport.id).order_by(DriftReport.cloud))
        return [
            {
                "cloud": r.cloud,
                "at": iso(r.at),
                "ok": r.ok,
                "error": r.error,
                "missing": r.missing,
                "changed": r.changed,
                "unknown": r.unknown,
                "findings": r.findings,
            }
            for r in reps
        ]

    @router.post("/sweep", summary="Collect capacity and reconcile drift now / 立即采集", response_model=CloudSweepOut)
    def run_sweep(db: DatabaseDep, clouds_: CloudsDep, p: CurrentPrincipal) -> dict[str, int]:
        clouds, failures = capacity.sweep(db, clouds_.drivers)
        return {"clouds": clouds, "failures": failures}

    @router.get(
        "/provisioning/{request_id}/steps",
        summary="Provisioning step log of a request / 开通步骤",
        response_model=list[StepOut],
    )
    def get_steps(
        request_id: Annotated[str, Path(max_length=64)], db: DatabaseDep, p: CurrentPrincipal
    ) -> list[dict[str, Any]]:
        steps = steps_of(db, request_id)
        if not steps:
            raise NotFound(f"no provisioning of request {request_id}", [Problem("unknown request", field="request_id")])
        return steps

    return router


def install(
    app: FastAPI, db: Database, clouds: Clouds, registry: CollectorRegistry, jobs: Jobs, sweep_seconds: int = 300
) -> None:
    """Router, metrics collector and the periodic capacity/drift job (only when clouds are configured)."""
    services(app).provide(CLOUDS, clouds)
    app.include_router(build_router())
    registry.register(capacity.CloudsCollector(db))
    if clouds.configured:

        def job() -> JobOutcome:
            return JobOutcome(*capacity.sweep(db, clouds.drivers))

        jobs.add_interval(SWEEP_JOB, job, sweep_seconds, 30)
