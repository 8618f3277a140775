"""With a broker, probe sweeps run on `yunwang worker` processes; an API process that sweeps nothing itself still
shows the live picture (node series, sweep timestamps, /coverage) from what the worker wrote to the database."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import select

from collectors.api import COLLECTOR_SERVICE
from collectors.models import ProbeRecord
from collectors.results import ProbeKind
from core.db import Database
from core.enums import Role
from core.tasks.backends import Tasks
from core.tasks.celery_app import CeleryBackend
from core.tasks.models import TaskJob, TaskStatus
from core.times import from_db
from core.wiring import services
from orchestrator.app.collectors_wiring import submit_sweeps
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv
from tests.integration.tasks.conftest import Engine, broker_url, stop_workers, worker_process


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port  # nobody listens once closed: a probe is refused


def _value(text: str, prefix: str) -> float | None:
    line = next((x for x in text.splitlines() if x.startswith(prefix)), None)
    return None if line is None else float(line.split()[-1])


def _poll(client: TestClient, ok: Callable[[str], bool], timeout: float = 20) -> str:
    """/metrics until `ok` (the API process's per-process job re-reads the database every second here)."""
    deadline = time.monotonic() + timeout
    while True:
        text: str = client.get("/metrics").text
        if ok(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


GX = 'city="",county="",level="region",node="GX"'
NN = 'city="南宁市",county="",level="city",node="NN"'


def test_api_process_shows_the_workers_sweeps(
    db: Database, tmp_path: Path, listener: int, token_for: Callable[..., str]
) -> None:
    url = broker_url()
    vantage = f"live{uuid.uuid4().hex[:6]}"
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region", code="450000", name="广西壮族自治区")
        c = inv.region("city", r, code="450100", name="南宁市")
        gx = inv.node(r, code="GX", address="127.0.0.1", tcp_ports=str(listener))
        nn = inv.node(c, "city", gx, code="NN", address="127.0.0.2", tcp_ports=str(_closed_port()))
        inv.add("node_access", unit_id=inv.unit(r, "region"), node_id=gx, status="connected")
        inv.add("node_access", unit_id=inv.unit(c, "city"), node_id=nn, status="connected")
        inv.unit(c, "city")  # no access: never counts
    celery = CeleryBackend(url)
    e = Engine("celery", db, Tasks(db, celery), "unused")
    e.workers.append(
        worker_process(db, url, None, tmp_path, ["--vantage", vantage], {"YUNWANG_COLLECTOR_VANTAGE": vantage})
    )
    settings = Settings(
        database_url=db.url,
        data_dir=tmp_path / "api",
        broker_url=SecretStr(url),
        scheduler_enabled=False,  # the leader's scheduler is elsewhere; this process only serves
        vantages=f"{vantage}=GX",
        collector_icmp_interval_seconds=1,  # the live picture is re-read every second
        collector_vantage="api-never-probes",
    )
    app = create_app(settings, registry=CollectorRegistry(), database=db)

    def sweep(kind: ProbeKind) -> TaskJob:
        submit_sweeps(db, e.tasks, {vantage: ("GX",)}, kind)
        job = next(j for j in e.tasks.recent() if j["queue"] == f"probe.{vantage}")  # the newest first
        done = e.wait(job["id"], timeout=90)
        assert done.status == TaskStatus.SUCCEEDED, done.error
        return done

    try:
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
            before = _poll(client, lambda t: f'yunwang_node_state{{{GX},state="unknown"}} 1.0' in t)
            assert f'yunwang_node_state{{{GX},state="unknown"}} 1.0' in before  # read from the db: nothing probed
            assert "yunwang_node_up{" not in before and "yunwang_probe_sweep_last_timestamp_seconds{" not in before

            first = sweep(ProbeKind.ICMP)
            text = _poll(client, lambda t: _value(t, f"yunwang_node_up{{{NN}}}") is not None)
            # by hand: both loopback addresses answer all 5 echo requests → up, no loss
            assert _value(text, f"yunwang_node_up{{{GX}}}") == 1.0
            assert _value(text, f"yunwang_node_up{{{NN}}}") == 1.0
            assert _value(text, f"yunwang_node_loss_ratio{{{GX}}}") == 0.0
            rtt = _value(text, f"yunwang_node_rtt_seconds{{{NN}}}")
            assert rtt is not None and 0 < rtt < 0.5
            t1 = _value(text, 'yunwang_probe_sweep_last_timestamp_seconds{kind="icmp"}')
            assert first.finished_at is not None and t1 == from_db(first.finished_at).timestamp()

            sweep(ProbeKind.TCP)  # GX's port accepts; NN's is closed (refused): ICMP alive + a closed port → degraded
            text = _poll(client, lambda t: f'yunwang_node_state{{{NN},state="degraded"}} 1.0' in t)
            assert f'yunwang_node_state{{{NN},state="degraded"}} 1.0' in text
            assert f'yunwang_node_state{{{GX},state="up"}} 1.0' in text
            assert _value(text, f"yunwang_node_up{{{NN}}}") == 1.0  # degraded still answers
            assert _value(text, 'yunwang_probe_sweep_last_timestamp_seconds{kind="tcp"}') is not None
            # by hand: region 1 area covered by GX; city 1 area covered by NN (degraded counts); units: the region
            # unit through GX (up) and one city unit through NN (degraded) count, the city unit without access not
            cov = client.get("/api/v1/collectors/coverage").json()
            assert [
                (c["level"], c["areas"], c["covered"])
                for c in cov["coverage"]
                if c["city_code"] == "" and c["level"] in ("region", "city")
            ] == [
                ("region", 1, 1),
                ("city", 1, 1),
            ]
            assert cov["horizontal_access"][-1] == {"level": "all", "units": 3, "connected_up": 2, "ratio": 2 / 3}

            second = sweep(ProbeKind.ICMP)
            text = _poll(client, lambda t: _value(t, 'yunwang_probe_sweep_last_timestamp_seconds{kind="icmp"}') != t1)
            t2 = _value(text, 'yunwang_probe_sweep_last_timestamp_seconds{kind="icmp"}')
            assert second.finished_at is not None and t2 == from_db(second.finished_at).timestamp()
            assert t1 is not None and t2 is not None and t2 > t1  # the sweep timestamp moved

            svc = services(app).get(COLLECTOR_SERVICE)
            assert svc.icmp_latest == {} and svc.tcp_latest == {}  # the API process probed nothing itself
        with db.read_session() as s:
            assert set(s.scalars(select(ProbeRecord.vantage))) == {vantage}  # every result from the worker
    finally:
        stop_workers(e.workers)
        with celery.app.connection_for_write() as conn:
            for q in ("probe", f"probe.{vantage}"):
                conn.default_channel.queue_delete(q)
        celery.stop()
