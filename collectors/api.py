"""Collector API: node states, availability, coverage, jobs, probe-now and credential storage.

Everyone authenticated reads; probing and credentials need network_admin or admin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, SecretStr

from collectors import credentials, store
from collectors.results import ProbeKind, ProbeResult, now_utc
from collectors.runner import CollectorService
from inventory.areas import Gap
from inventory.deps import CurrentPrincipal, SessionDep, change_context
from inventory.errors import NotFound, Problem


class JobBoard(Protocol):
    def describe(self) -> list[dict[str, Any]]: ...


class ProbeRequest(BaseModel):
    node_id: int
    subtree: bool = False
    kinds: list[ProbeKind] = Field(default_factory=lambda: [ProbeKind.ICMP, ProbeKind.TCP])


class CredentialIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: SecretStr
    secret: SecretStr | None = None


def _service(request: Request) -> CollectorService:
    svc: CollectorService = request.app.state.collectors
    return svc


def result_out(r: ProbeResult) -> dict[str, Any]:
    return {
        "kind": r.kind.value,
        "target": r.target,
        "port": r.port,
        "node_id": r.node_id,
        "device_id": r.device_id,
        "vantage": r.vantage,
        "ok": r.ok,
        "error": r.error.value if r.error else None,
        "detail": r.detail,
        "at": r.at.isoformat(),
        "loss_ratio": r.loss_ratio,
        "rtt_avg_seconds": r.rtt_avg_seconds,
        "rtt_min_seconds": r.rtt_min_seconds,
        "rtt_max_seconds": r.rtt_max_seconds,
        "facts": r.facts,
    }


def gaps_by_level(gaps: list[Gap]) -> dict[str, list[dict[str, Any]]]:
    """Uncovered areas per level, grouped by city: {level: [{city_code, city, areas: [{code, name, nodes}]}]}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for g in gaps:
        groups = out.setdefault(g.level, [])
        if not groups or groups[-1]["city_code"] != g.city:
            groups.append({"city_code": g.city, "city": g.city_name, "areas": []})
        groups[-1]["areas"].append({"code": g.code, "name": g.name, "nodes": g.nodes})
    return out


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/collectors", tags=["collectors"])

    @router.get("/nodes", summary="Extranet node states with the newest measurements")
    def nodes(
        principal: CurrentPrincipal,
        session: SessionDep,
        level: str | None = None,
        city: str | None = None,
        state: str | None = None,
    ) -> list[dict[str, Any]]:
        infos = [
            n
            for n in store.load_nodes(session)
            if (level is None or n.level == level)
            and (city is None or n.city == city)
            and (state is None or n.state.value == state)
        ]
        latest = store.latest_records(session, [n.id for n in infos])
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
                    "state_since": n.state_since.isoformat() if n.state_since else None,
                    "loss_ratio": icmp.loss_ratio if icmp else None,
                    "rtt_avg_seconds": icmp.rtt_avg_seconds if icmp else None,
                    "probed_at": icmp.at.isoformat() if icmp else None,
                    "vantage": icmp.vantage if icmp else None,
                }
            )
        return out

    @router.get("/availability", summary="Share of time up or degraded over 1, 7 and 30 days")
    def availability(
        principal: CurrentPrincipal, session: SessionDep, node_id: list[int] | None = Query(default=None)
    ) -> list[dict[str, Any]]:
        infos = store.load_nodes(session, node_id)
        av = store.availability(session, [n.id for n in infos])
        return [
            {"id": n.id, "code": n.code, "level": n.level, "state": n.state.value, **av.get(n.id, {})} for n in infos
        ]

    @router.get("/coverage", summary="Four-level coverage and the live horizontal access rate")
    def coverage(principal: CurrentPrincipal, session: SessionDep, request: Request) -> dict[str, Any]:
        svc = _service(request)
        snap = svc.live.snapshot if svc.live.snapshot.at else svc.live.refresh(session, svc.icmp_latest)
        return {
            "at": snap.at.isoformat() if snap.at else None,
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

    @router.get("/jobs", summary="Scheduled jobs, their last run and last error")
    def jobs(principal: CurrentPrincipal, session: SessionDep, request: Request) -> list[dict[str, Any]]:
        board: JobBoard | None = getattr(request.app.state, "jobs", None)
        scheduled = board.describe() if board else []
        runs = store.job_runs(session)
        ids = [j["id"] for j in scheduled] + sorted(set(runs) - {j["id"] for j in scheduled})
        by_id = {j["id"]: j for j in scheduled}
        return [
            {**by_id.get(i, {"id": i, "scheduled": False}), **runs.get(i, {"last_run": None, "last_error": None})}
            for i in ids
        ]

    @router.post("/probe", summary="Probe one node (or its subtree) now")
    async def probe_now(
        body: ProbeRequest, principal: CurrentPrincipal, session: SessionDep, request: Request
    ) -> dict[str, Any]:
        node_ids = store.subtree(session, body.node_id) if body.subtree else [body.node_id]
        if not body.subtree and not store.load_nodes(session, node_ids):
            raise NotFound("no such extranet node", [Problem("not found", field="node_id", value=body.node_id)])
        session.rollback()  # release the read transaction before the sweep writes (SQLite)
        svc = _service(request)
        out: dict[str, Any] = {"node_ids": node_ids, "sweeps": []}
        for kind in dict.fromkeys(body.kinds):
            started = now_utc()
            summary = await svc.sweep(kind, node_ids)
            with svc.db.session() as s:
                store.record_run(
                    s, f"probe-now:{kind.value}", "manual", started, True, None, summary.targets, summary.failures
                )
            out["sweeps"].append(
                {
                    "kind": kind.value,
                    "targets": summary.targets,
                    "failures": summary.failures,
                    "seconds": round(summary.seconds, 3),
                    "state_changes": [
                        {"node_id": n, "from": a.value, "to": b.value} for n, a, b in summary.state_changes
                    ],
                    "results": [result_out(r) for r in summary.results],
                }
            )
        return out

    @router.get("/credentials", summary="Stored device credential names (never passwords)")
    def list_credentials(principal: CurrentPrincipal, session: SessionDep) -> list[dict[str, str]]:
        return credentials.names(session)

    @router.put("/credentials/{name}", summary="Store a device credential encrypted")
    def put_credential(
        name: str, body: CredentialIn, principal: CurrentPrincipal, session: SessionDep, request: Request
    ) -> dict[str, Any]:
        svc = _service(request)
        credentials.store(
            session,
            svc.credential_key(),
            name,
            body.username,
            body.password.get_secret_value(),
            body.secret.get_secret_value() if body.secret else None,
            ctx=change_context(request, principal, message="设备凭据变更 / credential changed"),
        )
        session.commit()
        return {"name": name, "username": body.username, "stored_at": datetime.isoformat(now_utc())}

    return router
