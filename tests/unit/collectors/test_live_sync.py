"""The live picture rebuilt from the database (collectors/live_sync.py): what `yunwang worker` processes wrote
(results, node states, their sweep task rows) becomes the API process's snapshot, /metrics and /coverage."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr

from collectors import live_sync, store
from collectors.live import LiveView
from collectors.metrics import ExtranetCollector
from collectors.results import ProbeKind, ProbeResult
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.tasks.models import TaskJob, TaskStatus
from core.times import now_utc
from inventory.enums import NodeState
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv


def _icmp(node_id: int, at: datetime, received: int, rtt: float | None) -> ProbeResult:
    ok = received > 0
    return ProbeResult(
        ProbeKind.ICMP,
        "127.0.0.1",
        "nanning",
        ok,
        node_id=node_id,
        at=at,
        sent=5,
        received=received,
        rtt_avg_seconds=rtt,
    )


def _task(kind: str, status: TaskStatus, started: datetime, finished: datetime, seconds: float) -> TaskJob:
    return TaskJob(
        id=uuid.uuid4().hex,
        name="collectors.sweep",
        queue="probe.nanning",
        status=status,
        attempts=1,
        payload={"kind": kind, "vantage": "nanning", "node_ids": None},
        result={"kind": kind, "seconds": seconds} if status == TaskStatus.SUCCEEDED else None,
        created_at=started,
        started_at=started,
        finished_at=finished,
    )


def _as_worker(db: Database, now: datetime) -> dict[str, int]:
    """The inventory, then what a vantage worker's sweeps write: ICMP records, node states, its task rows."""
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region", code="450000", name="广西壮族自治区")
        nn_c = inv.region("city", r, code="450100", name="南宁市")
        xn_c = inv.region("county", nn_c, code="450102", name="兴宁区")
        lz_c = inv.region("city", r, code="450200", name="柳州市")
        gx = inv.node(r, code="GX", address="127.0.0.1")
        nn = inv.node(nn_c, "city", gx, code="NN", address="127.0.0.2")
        xn = inv.node(xn_c, "county", nn, code="NN-XN", address="127.0.0.3")
        lz = inv.node(lz_c, "city", gx, code="LZ", address="127.0.0.4")
        u = inv.unit(r, "region")
        cu = inv.unit(nn_c, "city")
        ku = inv.unit(xn_c, "county", cu)
        lu = inv.unit(lz_c, "city")
        for unit, node in ((u, gx), (cu, nn), (ku, xn), (lu, lz)):
            inv.add("node_access", unit_id=unit, node_id=node, status="connected")
        store.record_results(
            s,
            [
                _icmp(gx, now - timedelta(seconds=5), 5, 0.002),
                _icmp(nn, now - timedelta(seconds=65), 0, None),  # an older sweep: the newest counts
                _icmp(nn, now - timedelta(seconds=5), 4, 0.004),
                _icmp(xn, now - timedelta(seconds=5), 0, None),
            ],  # LZ: never probed
        )
        ctx = ChangeContext(actor="collector:nanning", role="system", message="icmp probe")
        store.apply_states(s, {gx: NodeState.UP, nn: NodeState.DEGRADED, xn: NodeState.DOWN}, ctx, now)
        s.add_all(
            [
                _task("icmp", TaskStatus.SUCCEEDED, now - timedelta(seconds=63), now - timedelta(seconds=61), 2.0),
                _task("icmp", TaskStatus.SUCCEEDED, now - timedelta(seconds=3), now - timedelta(seconds=1), 1.5),
                _task("icmp", TaskStatus.FAILED, now - timedelta(seconds=1), now, 0.0),  # failed: not a sweep's end
                _task("tcp", TaskStatus.SUCCEEDED, now - timedelta(seconds=11), now - timedelta(seconds=10), 0.25),
            ]
        )
        s.commit()
    return {"gx": gx, "nn": nn, "xn": xn, "lz": lz}


def _metric(text: str, prefix: str) -> float:
    return float(next(x for x in text.splitlines() if x.startswith(prefix)).split()[-1])


def test_rebuild_reads_what_the_worker_wrote(any_db: Database) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ids = _as_worker(any_db, now)
    live = LiveView()  # an API process: it swept nothing itself
    assert live.snapshot.nodes == []
    snap = live_sync.rebuild(any_db, live)
    assert {n.code: n.state for n in snap.nodes} == {
        "GX": NodeState.UP,
        "NN": NodeState.DEGRADED,
        "NN-XN": NodeState.DOWN,
        "LZ": NodeState.UNKNOWN,
    }
    assert {n: (m.loss_ratio, m.rtt_avg_seconds) for n, m in snap.icmp.items()} == {
        ids["gx"]: (0.0, 0.002),
        ids["nn"]: (0.2, 0.004),  # 4 of 5 answered, the newest record (not the older 5-lost one)
        ids["xn"]: (1.0, None),
    }
    # by hand: region 1 area, covered (GX up); cities NN, LZ: NN degraded counts, LZ unknown does not → 1 of 2;
    # counties: NN-XN down → 0 of 1, the gap
    overall = {(c.level, c.areas, c.covered) for c in snap.coverage if c.city == ""}
    assert overall == {("region", 1, 1), ("city", 2, 1), ("county", 1, 0)}
    assert [(g.level, g.code) for g in snap.gaps] == [("city", "450200"), ("county", "450102")]
    # units reached through an up/degraded node of their own level and area: region 1/1, city 1/2, county 0/1
    assert [(a.level, a.units, a.connected_up) for a in snap.access] == [
        ("region", 1, 1),
        ("city", 2, 1),
        ("county", 1, 0),
        ("all", 4, 2),
    ]
    # the newest succeeded sweep task per kind (the failed one later does not count); SSH never ran
    assert snap.sweep_seconds == {"icmp": 1.5, "tcp": 0.25}
    assert snap.sweep_finished == {"icmp": now - timedelta(seconds=1), "tcp": now - timedelta(seconds=10)}

    registry = CollectorRegistry()
    registry.register(ExtranetCollector(live))
    text = generate_latest(registry).decode()
    assert _metric(text, 'yunwang_node_up{city="",county="",level="region",node="GX"}') == 1.0
    assert _metric(text, 'yunwang_node_up{city="南宁市",county="",level="city",node="NN"}') == 1.0
    assert _metric(text, 'yunwang_node_up{city="南宁市",county="兴宁区",level="county",node="NN-XN"}') == 0.0
    assert 'node="LZ"}' not in "\n".join(x for x in text.splitlines() if x.startswith("yunwang_node_up{"))
    assert _metric(text, 'yunwang_node_loss_ratio{city="南宁市",county="",level="city",node="NN"}') == 0.2
    assert _metric(text, 'yunwang_extranet_horizontal_access_live_ratio{level="all"}') == 0.5
    assert _metric(text, 'yunwang_probe_sweep_last_timestamp_seconds{kind="icmp"}') == now.timestamp() - 1
    assert _metric(text, 'yunwang_probe_sweep_duration_seconds{kind="tcp"}') == 0.25


def test_a_newer_sweep_moves_the_timestamp_and_the_states(db: Database) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ids = _as_worker(db, now)
    live = LiveView()
    live_sync.rebuild(db, live)
    later = now + timedelta(seconds=60)
    with db.session() as s:  # the next sweep: NN-XN answers again, LZ is probed for the first time
        store.record_results(s, [_icmp(ids["xn"], later, 5, 0.003), _icmp(ids["lz"], later, 5, 0.005)])
        ctx = ChangeContext(actor="collector:nanning", role="system", message="icmp probe")
        store.apply_states(s, {ids["xn"]: NodeState.UP, ids["lz"]: NodeState.UP}, ctx, later)
        s.add(_task("icmp", TaskStatus.SUCCEEDED, later - timedelta(seconds=2), later, 2.0))
        s.commit()
    snap = live_sync.rebuild(db, live)
    assert {n.code: n.state.value for n in snap.nodes} == {"GX": "up", "NN": "degraded", "NN-XN": "up", "LZ": "up"}
    assert snap.sweep_finished["icmp"] == later and snap.sweep_seconds["icmp"] == 2.0
    assert snap.sweep_finished["tcp"] == now - timedelta(seconds=10)  # no newer TCP sweep: unchanged
    assert [(a.level, a.connected_up) for a in snap.access][-1] == ("all", 4)  # every unit's node now up/degraded
    assert snap.gaps == []


def test_with_a_broker_each_api_process_rebuilds_on_its_own(
    db: Database, tmp_path: Path, token_for: Callable[..., str]
) -> None:
    """The per-process job `collectors.live` runs in every API process (no lease), also with the scheduler off;
    /metrics and /coverage show what the worker wrote. Without a broker there is no such job (as before)."""
    _as_worker(db, now_utc())
    for broker, expect in ((None, False), ("amqp://nobody:x@127.0.0.1:9/none", True)):
        settings = Settings(
            database_url=db.url,
            data_dir=tmp_path / "data",
            scheduler_enabled=False,
            broker_url=SecretStr(broker) if broker else None,
        )
        app = create_app(settings, registry=CollectorRegistry(), database=db)
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
            text = client.get("/metrics").text
            for _ in range(100):  # the per-process job runs at start, on the local scheduler's thread
                if not expect or "yunwang_node_up{" in text:
                    break
                time.sleep(0.05)
                text = client.get("/metrics").text
            cov = client.get("/api/v1/collectors/coverage").json()
            if expect:
                assert 'yunwang_node_up{city="南宁市",county="兴宁区",level="county",node="NN-XN"} 0.0' in text
                assert 'yunwang_probe_sweep_duration_seconds{kind="icmp"} 1.5' in text
                assert cov["horizontal_access"][-1] == {"level": "all", "units": 4, "connected_up": 2, "ratio": 0.5}
            else:  # nothing swept in this process: no node series until its first own sweep (as before)
                assert "yunwang_probe_sweep_duration_seconds{" not in text
                assert "yunwang_node_up{" not in text
