"""Distributed probing: two `yunwang worker --vantage` processes, each consuming only the probe tasks of the nodes
assigned to its vantage (a city node takes its subtree); the scheduled sweep splits the nodes by vantage."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from collectors.models import ProbeRecord
from collectors.results import ProbeKind
from core.db import Database
from core.tasks.backends import Tasks
from core.tasks.celery_app import CeleryBackend
from core.tasks.models import TaskStatus
from orchestrator.app.collectors_wiring import submit_sweeps
from tests.builders import Inv
from tests.integration.tasks.conftest import Engine, broker_url, stop_workers, worker_process


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts (every node's probe target)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def test_each_vantage_worker_probes_only_its_own_subtree(db: Database, tmp_path: Path, listener: int) -> None:
    url = broker_url()
    suffix = uuid.uuid4().hex[:6]
    nn, lz = f"nn{suffix}", f"lz{suffix}"
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region", code="450000", name="广西壮族自治区")
        port = str(listener)
        gx = inv.node(r, code="GX", address="127.0.0.1", tcp_ports=port)
        nanning = inv.node(r, "city", gx, code="NN", address="127.0.0.1", tcp_ports=port)
        xingning = inv.node(r, "county", nanning, code="NN-XN", address="127.0.0.1", tcp_ports=port)
        liuzhou = inv.node(r, "city", gx, code="LZ", address="127.0.0.1", tcp_ports=port)
        liubei = inv.node(r, "county", liuzhou, code="LZ-LB", address="127.0.0.1", tcp_ports=port)
    celery = CeleryBackend(url)
    e = Engine("celery", db, Tasks(db, celery), "unused")
    for vantage in (nn, lz):
        env = {"YUNWANG_COLLECTOR_VANTAGE": vantage}
        e.workers.append(worker_process(db, url, None, tmp_path, ["--vantage", vantage], env))
    try:
        outcome = submit_sweeps(db, e.tasks, {nn: ("NN",), lz: ("LZ",)}, ProbeKind.TCP)
        assert outcome.targets == 5  # by hand: NN, NN-XN → nn; LZ, LZ-LB → lz; GX → the central queue
        jobs = {j["queue"]: j for j in e.tasks.recent()}
        assert sorted(jobs) == sorted(["probe", f"probe.{nn}", f"probe.{lz}"])
        done = {q: e.wait(jobs[q]["id"], timeout=90) for q in (f"probe.{nn}", f"probe.{lz}")}
        assert {q: (r.status, r.result["probed_by"], r.result["targets"]) for q, r in done.items()} == {  # type: ignore[index]
            f"probe.{nn}": (TaskStatus.SUCCEEDED, nn, 2),
            f"probe.{lz}": (TaskStatus.SUCCEEDED, lz, 2),
        }
        assert e.row(jobs["probe"]["id"]).status == TaskStatus.QUEUED  # no central worker runs: GX waits for one
        with db.read_session() as s:
            seen = {(n, v) for n, v in s.execute(select(ProbeRecord.node_id, ProbeRecord.vantage))}
        assert seen == {(nanning, nn), (xingning, nn), (liuzhou, lz), (liubei, lz)}  # gx: not probed, not by them
    finally:
        stop_workers(e.workers)
        with celery.app.connection_for_write() as conn:
            for q in ("probe", f"probe.{nn}", f"probe.{lz}"):
                conn.default_channel.queue_delete(q)
        celery.stop()
