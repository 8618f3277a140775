"""Collector API: node states, availability, coverage, jobs, probe-now and credential storage.

Everyone authenticated reads; probing and credentials need network_admin or admin.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, SecretStr

from collectors import api_models as m
from collectors import credentials, history, snmp_store, store
from collectors.probe_jobs import ProbeJobs
from collectors.results import ProbeKind
from collectors.runner import CollectorService
from collectors.vantage_status import VantageBoard, get_vantage_board
from core.deps import CurrentPrincipal, SessionDep, change_context
from core.errors import NotFound, Problem, ValidationFailed
from core.times import iso, now_utc
from core.validation import Id
from core.wiring import Key, get_jobs, provider
from inventory.areas import Gap


class JobBoard(Protocol):
    def describe(self) -> list[dict[str, Any]]: ...


class ProbeRequest(BaseModel):
    node_id: Id
    subtree: bool = False
    kinds: list[ProbeKind] = Field(default_factory=lambda: [ProbeKind.ICMP, ProbeKind.TCP])


class SnmpSettingsIn(BaseModel):
    version: Literal["2c", "3"] = Field(description="2c or 3 (v3 polls authPriv)")
    credential_ref: str = Field(min_length=1, max_length=100, description="vault:NAME, env:PREFIX or file:/path")
    port: int = Field(default=161, ge=1, le=65535)
    uplinks: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=1000, description="interface names (ifName) of the node's uplink"
    )
    auth_protocol: str = Field(default="SHA", max_length=20)
    priv_protocol: str = Field(default="AES", max_length=20)


class CredentialIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: SecretStr = Field(max_length=1000)
    secret: SecretStr | None = Field(default=None, max_length=1000)


COLLECTOR_SERVICE: Key[CollectorService] = Key("collector_service")
PROBE_JOBS: Key[ProbeJobs] = Key("probe_jobs")
get_collector_service = provider(COLLECTOR_SERVICE)
get_probe_jobs = provider(PROBE_JOBS)


ServiceDep = Annotated[CollectorService, Depends(get_collector_service)]
ProbeJobsDep = Annotated[ProbeJobs, Depends(get_probe_jobs)]
BoardDep = Annotated[JobBoard, Depends(get_jobs)]
VantageBoardDep = Annotated[VantageBoard, Depends(get_vantage_board)]


def gaps_by_level(gaps: list[Gap]) -> dict[str, list[dict[str, Any]]]:
    """Uncovered areas per level, grouped by city: {level: [{city_code, city, areas: [{code, name, nodes}]}]}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for g in gaps:
        groups = out.setdefault(g.level, [])
        if not groups or groups[-1]["city_code"] != g.city:
            groups.append({"city_code": g.city, "city": g.city_name, "areas": []})
        groups[-1]["areas"].append({"code": g.code, "name": g.name, "nodes": g.nodes})
    return out


def build_router() -> APIRouter:  # noqa: C901 - the sum of independent nested routes, each simple
    router = APIRouter(prefix="/api/v1/collectors", tags=["collectors"])

    @router.get("/nodes", response_model=list[m.NodeOut], summary="Extranet node states with the newest measurements")
    def nodes(
        principal: CurrentPrincipal,
        session: SessionDep,
        level: Annotated[str | None, Query(max_length=40)] = None,
        city: Annotated[str | None, Query(max_length=40)] = None,
        state: Annotated[str | None, Query(max_length=40)] = None,
        node_id: list[Id] | None = Query(default=None, max_length=1000),
    ) -> list[dict[str, Any]]:
        infos = [
            n
            for n in store.load_nodes(session, node_id)
            if (level is None or n.level == level)
            and (city is None or n.city == city)
            and (state is None or n.state.value == state)
        ]
        latest = store.latest_records(session, [n.id for n in infos], kinds=("icmp",))
        out = []
        for n in infos:
            icmp = latest.get((n.id, "icmp"))
            out.append(
                {
                    "id": n.id,
                    "code": n.code,
                    "name": n.name,
                    "level": n.level,
                    "city": n.city,
                    "county": n.county,
                    "address": n.address,
                    "state": n.state.value,
                    "state_since": iso(n.state_since) if n.state_since else None,
                    "loss_ratio": icmp.loss_ratio if icmp else None,
                    "rtt_avg_seconds": icmp.rtt_avg_seconds if icmp else None,
                    "probed_at": iso(icmp.at) if icmp else None,
                    "vantage": icmp.vantage if icmp else None,
                }
            )
        return out

    @router.get(
        "/nodes/{node_id}/history",
        response_model=m.NodeHistoryOut,
        summary="One node's recent ICMP samples (latency, loss) and state periods",
    )
    def node_history(
        node_id: Id,
        principal: CurrentPrincipal,
        session: SessionDep,
        hours: Annotated[int, Query(ge=1, le=720, description="window in hours (samples are kept 48 h)")] = 24,
    ) -> dict[str, Any]:
        if not store.load_nodes(session, [node_id]):
            raise NotFound("no such extranet node", [Problem("not found", field="node_id", value=node_id)])
        return history.node_history(session, node_id, hours)

    @router.get(
        "/sparklines",
        response_model=m.SparklinesOut,
        summary="Recent latency and loss of many nodes in a few buckets each (node list sparklines)",
    )
    def sparklines(
        principal: CurrentPrincipal,
        session: SessionDep,
        node_id: list[Id] | None = Query(default=None, max_length=1000),
        hours: Annotated[int, Query(ge=1, le=720)] = 24,
        points: Annotated[int, Query(ge=2, le=96)] = 24,
    ) -> dict[str, Any]:
        return history.sparklines(session, node_id, hours, points)

    @router.get(
        "/availability",
        response_model=list[m.AvailabilityOut],
        summary="Share of time up or degraded over 1, 7 and 30 days",
    )
    def availability(
        principal: CurrentPrincipal,
        session: SessionDep,
        node_id: list[Id] | None = Query(default=None, max_length=1000),
    ) -> list[dict[str, Any]]:
        infos = store.load_nodes(session, node_id)
        av = store.availability(session, [n.id for n in infos])
        return [
            {"id": n.id, "code": n.code, "level": n.level, "state": n.state.value, **av.get(n.id, {})} for n in infos
        ]

    @router.get(
        "/coverage", response_model=m.CoverageOut, summary="Four-level coverage and the live horizontal access rate"
    )
    def coverage(principal: CurrentPrincipal, session: SessionDep, svc: ServiceDep) -> dict[str, Any]:
        snap = svc.live.snapshot if svc.live.snapshot.at else svc.live.refresh(session, svc.icmp_latest)
        return {
            "at": iso(snap.at) if snap.at else None,
            "coverage_rule": (
                "四级覆盖按地方计：有可用（up/degraded）本级外网节点的本级行政区域数 / 区划树中该级全部行政区域数 / "
                "areas of a level with a working node of that level over all areas of that level in the region tree"
            ),
            "coverage": [
                {
                    "level": c.level,
                    "city": c.city_name,
                    "city_code": c.city,
                    "areas": c.areas,
                    "covered": c.covered,
                    "expected": c.areas,
                    "reachable": c.covered,
                    "ratio": c.ratio,
                }
                for c in snap.coverage
            ],
            "gaps": gaps_by_level(snap.gaps),
            "horizontal_access": [
                {"level": a.level, "units": a.units, "connected_up": a.connected_up, "ratio": a.ratio}
                for a in snap.access
            ],
        }

    @router.get(
        "/jobs",
        response_model=list[m.JobOut],
        response_model_exclude_unset=True,
        summary="Scheduled jobs, their last run and last error",
    )
    def jobs(principal: CurrentPrincipal, session: SessionDep, board_: BoardDep) -> list[dict[str, Any]]:
        scheduled = board_.describe()
        runs = store.job_runs(session)
        ids = [j["id"] for j in scheduled] + sorted(set(runs) - {j["id"] for j in scheduled})
        by_id = {j["id"]: j for j in scheduled}
        return [
            {**by_id.get(i, {"id": i, "scheduled": False}), **runs.get(i, {"last_run": None, "last_error": None})}
            for i in ids
        ]

    @router.get(
        "/vantages",
        response_model=list[m.VantageOut],
        summary="Availability and coverage per vantage (distributed probing): assigned, probed, up, down, stale",
    )
    def vantages_(
        principal: CurrentPrincipal,
        session: SessionDep,
        board_: VantageBoardDep,
        kind: Annotated[Literal["icmp", "tcp"], Query(description="which probe's results")] = "icmp",
    ) -> list[dict[str, Any]]:
        return [st.as_dict() for st in board_.report(session, kind)]

    @router.post(
        "/probe",
        status_code=202,
        response_model=m.ProbeJobOut,
        summary="Probe one node (or its subtree) now: returns a job at once",
    )
    def probe_now(  # sync: its reads and the job's row are database I/O, in a handler thread, not on the event loop
        body: ProbeRequest,
        principal: CurrentPrincipal,
        session: SessionDep,
        probe_jobs_: ProbeJobsDep,
        response: Response,
    ) -> dict[str, Any]:
        node_ids = store.subtree(session, body.node_id) if body.subtree else [body.node_id]
        if not body.subtree and not store.load_nodes(session, node_ids):
            raise NotFound("no such extranet node", [Problem("not found", field="node_id", value=body.node_id)])
        session.rollback()  # release the read transaction before the sweeps write (SQLite)
        job = probe_jobs_.submit(node_ids, body.kinds, principal, root=body.node_id)
        response.headers["Location"] = f"/api/v1/collectors/probe-jobs/{job['job_id']}"
        return job

    @router.get(
        "/probe-jobs",
        response_model=list[m.ProbeJobOut],
        response_model_exclude_unset=True,
        summary="Recent probe-now jobs and their progress (without per-target results)",
    )
    def probe_jobs(principal: CurrentPrincipal, probe_jobs_: ProbeJobsDep) -> list[dict[str, Any]]:
        return probe_jobs_.recent(principal)

    @router.get(
        "/probe-jobs/{job_id}", response_model=m.ProbeJobOut, summary="One probe-now job: status, progress and results"
    )
    def probe_job(
        job_id: Annotated[str, Path(max_length=64)], principal: CurrentPrincipal, probe_jobs_: ProbeJobsDep
    ) -> dict[str, Any]:
        return probe_jobs_.get(job_id, principal)  # 404 when unknown or not the caller's to see

    @router.put(
        "/snmp/devices/{device_id}",
        response_model=m.SnmpSettingsOut,
        summary="Set how a device is polled over SNMP (change-logged)",
    )
    def put_snmp(
        device_id: Id,
        body: SnmpSettingsIn,
        principal: CurrentPrincipal,
        session: SessionDep,
        request: Request,
        collector_service: ServiceDep,
    ) -> dict[str, Any]:
        problem = credentials.ref_problem(body.credential_ref, collector_service.config.credential_env_prefix)
        if problem:
            raise ValidationFailed(problem, [Problem(problem, field="credential_ref")])
        out = snmp_store.configure(session, device_id, body.model_dump(), change_context(request, principal))
        session.commit()
        return out

    @router.get(
        "/snmp/devices",
        response_model=list[m.SnmpSettingsOut],
        summary="Devices polled over SNMP and their settings (credential names only)",
    )
    def snmp_devices(principal: CurrentPrincipal, session: SessionDep) -> list[dict[str, Any]]:
        return snmp_store.all_settings(session)

    @router.get(
        "/snmp/interfaces",
        response_model=list[m.InterfaceOut],
        summary="Newest interface status, rates (bits/s), utilisation, errors, discards",
    )
    def snmp_interfaces(
        principal: CurrentPrincipal,
        session: SessionDep,
        node_id: list[Id] | None = Query(default=None, max_length=1000),
    ) -> list[dict[str, Any]]:
        return [{**asdict(r), "sampled_at": iso(r.sampled_at)} for r in snmp_store.interface_rows(session, node_id)]

    @router.get(
        "/snmp/uplinks",
        response_model=list[m.UplinkOut],
        summary="Uplink bandwidth (bits/s) and utilisation (0–1) per node",
    )
    def snmp_uplinks(
        principal: CurrentPrincipal,
        session: SessionDep,
        node_id: list[Id] | None = Query(default=None, max_length=1000),
    ) -> list[dict[str, Any]]:
        return [asdict(u) for u in snmp_store.uplinks(snmp_store.interface_rows(session, node_id))]

    @router.get(
        "/credentials",
        response_model=list[m.CredentialNameOut],
        summary="Stored device credential names (never passwords)",
    )
    def list_credentials(principal: CurrentPrincipal, session: SessionDep) -> list[dict[str, str]]:
        return credentials.names(session)

    @router.put(
        "/credentials/{name}", response_model=m.CredentialStoredOut, summary="Store a device credential encrypted"
    )
    def put_credential(
        name: Annotated[str, Path(min_length=1, max_length=100)],
        body: CredentialIn,
        principal: CurrentPrincipal,
        session: SessionDep,
        request: Request,
        svc: ServiceDep,
    ) -> dict[str, Any]:
        credentials.store(
            session,
            svc.credential_key(session),
            name,
            body.username,
            body.password.get_secret_value(),
            body.secret.get_secret_value() if body.secret else None,
            ctx=change_context(request, principal, message="设备凭据变更 / credential changed"),
        )
        session.commit()
        return {"name": name, "username": body.username, "stored_at": iso(now_utc())}

    return router
