"""Wires the extranet collectors into the app: the service, its metrics, its router and its jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from collectors import live_sync, vantages
from collectors import tasks as collector_tasks
from collectors.api import COLLECTOR_SERVICE, PROBE_JOBS, build_router
from collectors.device_metrics import DeviceCollector
from collectors.devices_api import build_devices_router
from collectors.icmp import IcmpOptions
from collectors.metrics import ExtranetCollector
from collectors.probe_jobs import ProbeJobs
from collectors.results import ProbeKind
from collectors.runner import CollectorConfig, CollectorService
from collectors.snmp import SnmpOptions
from collectors.snmp_metrics import SnmpCollector
from collectors.ssh import SshOptions
from collectors.tcp import TcpOptions
from collectors.vantage_status import VANTAGE_BOARD, VantageBoard, VantageCollector
from core.db import Database
from core.jobs import JobOutcome, Jobs
from core.tasks.api import TASKS
from core.tasks.backends import Tasks
from core.wiring import services
from orchestrator.app.settings import Settings

LIVE_REFRESH_SECONDS = 15  # with a broker: how often each API process re-reads the live picture (at most)


def collector_config(s: Settings) -> CollectorConfig:
    v = s.collector_vantage
    return CollectorConfig(
        vantage=v,
        icmp=IcmpOptions(
            count=s.collector_icmp_count,
            interval_seconds=s.collector_icmp_packet_interval_seconds,
            timeout_seconds=s.collector_icmp_timeout_seconds,
            privileged=s.collector_icmp_privileged,
            vantage=v,
        ),
        tcp=TcpOptions(s.collector_tcp_timeout_seconds, s.collector_tcp_concurrency, s.collector_retries, v),
        ssh=SshOptions(s.collector_ssh_timeout_seconds, s.collector_ssh_concurrency, s.collector_retries, v),
        snmp=SnmpOptions(s.collector_snmp_timeout_seconds, s.collector_retries, s.collector_snmp_concurrency, v),
        degraded_loss_ratio=s.collector_degraded_loss_ratio,
        history_hours=s.collector_history_hours,
        secret_key=s.secret_key.get_secret_value() if s.secret_key else None,
        data_dir=s.data_dir,
        credential_files_dir=s.credential_files_dir,
        credential_env_prefix=s.credential_env_prefix,
    )


def submit_sweeps(db: Database, tasks: Tasks, assignments: vantages.Assignments, kind: ProbeKind) -> JobOutcome:
    """Split the nodes by vantage and submit one `collectors.sweep` per vantage; targets = nodes handed out."""
    with db.read_session() as s:
        groups = vantages.split(s, assignments, None)
    handed = 0
    for vantage, node_ids in groups.items():
        data = collector_tasks.payload(kind, vantage, node_ids)  # kept to send again if the broker refuses it
        tasks.submit(collector_tasks.SWEEP, data, requested_by="scheduler", keep_unsent=True)
        handed += len(node_ids) if node_ids is not None else 0
    return JobOutcome(handed, 0)


def install_collectors(
    app: FastAPI,
    settings: Settings,
    db: Database,
    registry: CollectorRegistry,
    jobs: Jobs,
    stoppers: list[Callable[[FastAPI], Any]],
) -> CollectorService:
    """The collector service and its probe-now jobs (providers `get_collector_service`, `get_probe_jobs`),
    metrics on `registry`, routers, and one job per probe kind on the app's scheduler."""
    svc = services(app).provide(COLLECTOR_SERVICE, CollectorService(db, collector_config(settings)))
    registry.register(ExtranetCollector(svc.live))
    registry.register(DeviceCollector(svc.devices))
    registry.register(SnmpCollector(svc.snmp_view))
    tasks = services(app).get(TASKS)  # installed before the collectors (factory.py)
    assignments = vantages.parse(settings.vantages)
    services(app).provide(PROBE_JOBS, ProbeJobs(svc, tasks, assignments))  # probe-now jobs: background tasks
    board = services(app).provide(
        VANTAGE_BOARD,
        VantageBoard(
            db,
            assignments,
            {"icmp": settings.collector_icmp_interval_seconds, "tcp": settings.collector_tcp_interval_seconds},
            settings.collector_jitter_seconds,
            settings.collector_history_hours,
        ),
    )
    registry.register(VantageCollector(board))  # yunwang_vantage_*{vantage}: availability and coverage per vantage
    jobs.add_local("collectors.vantages", board.refresh, settings.collector_icmp_interval_seconds)
    app.include_router(build_router())
    app.include_router(build_devices_router())
    intervals = {
        ProbeKind.ICMP: settings.collector_icmp_interval_seconds,
        ProbeKind.TCP: settings.collector_tcp_interval_seconds,
        ProbeKind.SSH: settings.collector_ssh_interval_seconds,
        ProbeKind.SNMP: settings.collector_snmp_interval_seconds,
    }
    distributed = settings.broker_url is not None
    if distributed:  # workers sweep: every API process rebuilds its own live picture from the database
        every = min(LIVE_REFRESH_SECONDS, settings.collector_icmp_interval_seconds)
        jobs.add_local("collectors.live", lambda: live_sync.rebuild(db, svc.live), every)
    for kind, seconds in intervals.items():

        def task(kind: ProbeKind = kind) -> JobOutcome:
            if distributed:  # one sweep task per vantage, on its queue (the workers probe)
                return submit_sweeps(db, tasks, assignments, kind)
            summary = svc.sweep_blocking(kind)
            return JobOutcome(summary.targets, summary.failures)

        ready = tasks.ready if distributed else None  # no slot taken while this process cannot reach the broker
        jobs.add_interval(f"collectors.{kind.value}", task, seconds, settings.collector_jitter_seconds, ready)
    return svc
