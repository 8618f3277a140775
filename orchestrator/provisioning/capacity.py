"""Capacity and drift per cloud, and the provisioning metrics.

- `collect_capacity` samples Placement inventories/usages of each cloud's hosts into `cloud_capacity_samples`
  (one timestamp per cloud and sweep; `latest_samples`/`latest_capacities` read the newest one).
- `reconcile` compares what the step log says yunwang created with what the cloud lists: *missing* (logged
  READY, gone from the cloud), *changed* (server not ACTIVE, volume in error, renamed) and *unknown* (in a
  yunwang-managed project but carrying no yunwang marker: created outside yunwang). Stored in
  `cloud_drift_reports`.
- `CloudsCollector` exposes capacity, usage, drift and provisioning runs/durations/retries to Prometheus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVarTuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.times import now_utc
from orchestrator.provisioning.driver import CloudCapacity, CloudDriver, CloudError, CloudObject, HostCapacity
from orchestrator.provisioning.models import (
    CapacitySample,
    DriftReport,
    ProvisionRun,
    ProvisionStep,
    RunStatus,
    StepStatus,
)
from orchestrator.provisioning.plan import ResourceKind

_Ts = TypeVarTuple("_Ts")

log = logging.getLogger("yunwang.capacity")
HEALTHY = {"server": {"ACTIVE"}, "volume": {"available", "in-use"}}


# Kinds whose renaming or unexpected presence is drift (networks and ports come and go with them).
_DRIFT_KINDS = frozenset({ResourceKind.SERVER, ResourceKind.VOLUME})


def of_newest_samples(stmt: Select[*_Ts]) -> Select[*_Ts]:
    """`stmt` (a select over `CapacitySample`) limited to each cloud's newest sampling."""
    newest = (
        select(CapacitySample.cloud, func.max(CapacitySample.at).label("at")).group_by(CapacitySample.cloud).subquery()
    )
    return stmt.join(newest, (newest.c.cloud == CapacitySample.cloud) & (newest.c.at == CapacitySample.at))


def latest_samples(session: Session) -> list[CapacitySample]:
    """The newest sample rows of every cloud (one sweep per cloud), by cloud, host and resource class: the one
    "latest capacity" query (the scheduler, the planner, the capacity API and the metrics read it)."""
    return list(
        session.scalars(
            of_newest_samples(select(CapacitySample)).order_by(
                CapacitySample.cloud, CapacitySample.host, CapacitySample.resource_class
            )
        )
    )


def latest_capacities(session: Session, az_of: Callable[[str], str | None] = lambda _: None) -> list[CloudCapacity]:
    """Capacity from the newest sample of every cloud; samples carry no availability zone, `az_of(cloud)`
    supplies it (from clouds.yaml)."""
    hosts: dict[str, dict[str, dict[str, tuple[float, int]]]] = {}
    for r in latest_samples(session):
        hosts.setdefault(r.cloud, {}).setdefault(r.host, {})[r.resource_class] = (r.total, r.used)
    return [
        CloudCapacity(cloud, az_of(cloud), tuple(HostCapacity(h, res) for h, res in sorted(by_host.items())))
        for cloud, by_host in sorted(hosts.items())
    ]


def collect_capacity(db: Database, drivers: Iterable[CloudDriver]) -> tuple[list[CloudCapacity], list[str]]:
    """Sample every cloud's capacity; (capacities, error texts of the clouds that failed)."""
    got: list[CloudCapacity] = []
    errors: list[str] = []
    for d in drivers:
        try:
            cap = d.capacity()
        except CloudError as exc:
            errors.append(exc.message)
            log.warning("capacity of %s failed: %s", d.cloud, exc.message)
            continue
        at = now_utc()
        with db.session() as s:
            for h in cap.hosts:
                for rc, (total, used) in h.resources.items():
                    s.add(CapacitySample(at=at, cloud=d.cloud, host=h.host, resource_class=rc, total=total, used=used))
        got.append(cap)
    return got, errors


@dataclass
class Drift:
    cloud: str
    missing: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)

    def findings(self) -> list[dict[str, Any]]:
        return (
            [{"type": "missing", **f} for f in self.missing]
            + [{"type": "changed", **f} for f in self.changed]
            + [{"type": "unknown", **f} for f in self.unknown]
        )


def _describe(o: CloudObject) -> dict[str, Any]:
    return {
        "kind": o.kind.value,
        "name": o.name,
        "cloud_id": o.cloud_id,
        "project_id": o.project_id,
        "status": o.status,
    }


def reconcile(db: Database, driver: CloudDriver) -> Drift:
    """Compare the step log of this cloud's live runs with what the cloud lists (and store the report)."""
    drift = Drift(driver.cloud)
    with db.session() as s:
        runs = s.scalars(
            select(ProvisionRun).where(ProvisionRun.cloud == driver.cloud, ProvisionRun.project_id.is_not(None))
        ).all()
        projects = {r.project_id for r in runs if r.project_id}
        live = {r.id: r for r in runs if r.status == RunStatus.DONE}
        steps = s.scalars(
            select(ProvisionStep).where(
                ProvisionStep.run_id.in_(list(live) or [-1]),
                ProvisionStep.owned.is_(True),
                ProvisionStep.status == StepStatus.READY,
            )
        ).all()
        expected = {
            st.cloud_id: (live[st.run_id].request_id, st)
            for st in steps
            if st.cloud_id and st.kind != ResourceKind.VOLUME_ATTACHMENT.value
        }
    try:
        actual = driver.list_resources(sorted(p for p in projects if p))
    except CloudError as exc:
        _store(db, drift, exc.message)
        raise
    by_id = {o.cloud_id: o for o in actual}
    for cloud_id, (request_id, st) in expected.items():
        o = by_id.get(cloud_id)
        if o is None:
            drift.missing.append({"kind": st.kind, "name": st.name, "cloud_id": cloud_id, "request_id": request_id})
            continue
        healthy = HEALTHY.get(o.kind.value)
        if (healthy is not None and o.status not in healthy) or (o.kind in _DRIFT_KINDS and o.name != st.name):
            drift.changed.append({**_describe(o), "request_id": request_id, "expected_name": st.name})
    for o in actual:
        owner = o.owner
        if owner is not None and owner[1] != driver.cloud:
            continue  # another cloud's resource, visible here because the two regions share services
        zone = o.attrs.get("availability_zone")
        if owner is None and zone and driver.availability_zone and zone != driver.availability_zone:
            continue  # a server in another cloud's availability zone
        if owner is None:
            drift.unknown.append(_describe(o))
        elif o.cloud_id not in expected and o.kind in _DRIFT_KINDS:
            # carries a yunwang marker but no live run owns it (e.g. a retired request's leftover)
            drift.unknown.append({**_describe(o), "request_id": owner[0]})
    _store(db, drift, None)
    return drift


def _store(db: Database, drift: Drift, error: str | None) -> None:
    with db.session() as s:
        s.add(
            DriftReport(
                at=now_utc(),
                cloud=drift.cloud,
                ok=error is None,
                error=error,
                missing=len(drift.missing),
                changed=len(drift.changed),
                unknown=len(drift.unknown),
                findings=drift.findings(),
            )
        )


def sweep(db: Database, drivers: Callable[[], list[CloudDriver]]) -> tuple[int, int]:
    """The periodic job: capacity then drift of every cloud; (clouds, failures)."""
    ds = drivers()
    _, errors = collect_capacity(db, ds)
    failures = len(errors)
    for d in ds:
        try:
            reconcile(db, d)
        except CloudError:
            failures += 1
    return len(ds), failures


class CloudsCollector(Collector):
    """Capacity/usage (newest samples), drift counts (newest report) and provisioning runs, per cloud."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterable[Any]:
        cap = GaugeMetricFamily(
            "yunwang_cloud_capacity", "Effective capacity (Placement)", labels=["cloud", "resource_class"]
        )
        used = GaugeMetricFamily("yunwang_cloud_usage", "Allocated (Placement)", labels=["cloud", "resource_class"])
        drift = GaugeMetricFamily(
            "yunwang_cloud_drift", "Drift findings of the newest report", labels=["cloud", "type"]
        )
        runs = GaugeMetricFamily("yunwang_provision_runs", "Provisioning runs by state", labels=["cloud", "status"])
        dur = SummaryMetricFamily(
            "yunwang_provision_duration_seconds", "Duration of finished provisioning runs", labels=["cloud"]
        )
        retries = CounterMetricFamily(
            "yunwang_provision_retries", "Transient cloud errors retried during provisioning", labels=["cloud"]
        )
        with self.db.sessions() as s:
            rows = s.execute(
                of_newest_samples(
                    select(
                        CapacitySample.cloud,
                        CapacitySample.resource_class,
                        func.sum(CapacitySample.total),
                        func.sum(CapacitySample.used),
                    )
                ).group_by(CapacitySample.cloud, CapacitySample.resource_class)
            ).all()
            for cloud, rc, total, u in rows:
                cap.add_metric([cloud, rc], float(total or 0))
                used.add_metric([cloud, rc], float(u or 0))
            last = (
                select(DriftReport.cloud, func.max(DriftReport.id).label("id")).group_by(DriftReport.cloud).subquery()
            )
            for rep in s.scalars(select(DriftReport).join(last, last.c.id == DriftReport.id)):
                drift.add_metric([rep.cloud, "missing"], rep.missing)
                drift.add_metric([rep.cloud, "changed"], rep.changed)
                drift.add_metric([rep.cloud, "unknown"], rep.unknown)
            for cloud, status, n in s.execute(
                select(ProvisionRun.cloud, ProvisionRun.status, func.count()).group_by(
                    ProvisionRun.cloud, ProvisionRun.status
                )
            ):
                runs.add_metric([cloud, status.value], int(n))
            for cloud, n, dsum, tries in s.execute(
                select(
                    ProvisionRun.cloud,
                    func.count(ProvisionRun.duration_s),
                    func.coalesce(func.sum(ProvisionRun.duration_s), 0.0),
                    func.coalesce(func.sum(ProvisionRun.attempts), 0),
                ).group_by(ProvisionRun.cloud)
            ):
                dur.add_metric([cloud], count_value=int(n), sum_value=float(dsum or 0.0))
                retries.add_metric([cloud], float(tries))
        yield from (cap, used, drift, runs, dur, retries)
