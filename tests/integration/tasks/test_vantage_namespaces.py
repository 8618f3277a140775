"""Distributed probing across network namespaces (root): two `yunwang worker --vantage` processes, each inside a
namespace that holds only its own part of the test network (tests/integration/tasks/vantage_net.py), reach the
database (a SQLite file) and the broker (a unix-socket bridge) through the filesystem. Each worker probes only its own
targets: what vantage a sees up, vantage b (which has no route to it) sees down; a node of no vantage waits on the
central queue."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from sqlalchemy import select

from collectors.models import ProbeRecord
from collectors.results import ProbeKind
from collectors.vantage_status import report
from core.db import Database
from core.tasks.backends import Tasks
from core.tasks.celery_app import CeleryBackend
from core.tasks.models import TaskStatus
from core.times import now_utc
from orchestrator.app.collectors_wiring import submit_sweeps
from tests.builders import Inv
from tests.integration.tasks.conftest import Engine, broker_url, stop_workers, worker_process
from tests.integration.tasks.vantage_net import vantage_net

FAST_ICMP = {
    "YUNWANG_COLLECTOR_ICMP_COUNT": "3",
    "YUNWANG_COLLECTOR_ICMP_PACKET_INTERVAL_SECONDS": "0.05",
    "YUNWANG_COLLECTOR_ICMP_TIMEOUT_SECONDS": "1.0",
    "YUNWANG_COLLECTOR_RETRIES": "0",
}


def records(db: Database) -> set[tuple[int | None, str, bool]]:
    with db.read_session() as s:
        return {(n, v, ok) for n, v, ok in s.execute(select(ProbeRecord.node_id, ProbeRecord.vantage, ProbeRecord.ok))}


def test_two_vantage_workers_in_namespaces_probe_only_their_own_part(db: Database, tmp_path: Path) -> None:
    url = broker_url()
    sfx = uuid.uuid4().hex[:4]
    a, b = f"a{sfx}", f"b{sfx}"
    assigned = {a: ("NN",), b: ("LZ",)}
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region", code="450000", name="广西壮族自治区")
        gx = inv.node(r, code="GX", address="198.18.0.1")  # in no namespace, of no vantage
        nanning = inv.node(r, "city", gx, code="NN", address="198.18.1.1")
        xingning = inv.node(r, "county", nanning, code="NN-XN", address="198.18.1.2")
        liuzhou = inv.node(r, "city", gx, code="LZ", address="198.18.2.1")
        liubei = inv.node(r, "county", liuzhou, code="LZ-LB", address="198.18.2.2")
    celery = CeleryBackend(url)
    e = Engine("celery", db, Tasks(db, celery), "unused")
    queues = ("probe", f"probe.{a}", f"probe.{b}")
    try:
        with vantage_net(tmp_path, url) as net:
            net.add(a, ["198.18.1.1", "198.18.1.2"])  # the Nanning part of the network
            net.add(b, ["198.18.2.1", "198.18.2.2"])  # the Liuzhou part
            for v in (a, b):
                env = {"YUNWANG_COLLECTOR_VANTAGE": v, **FAST_ICMP}
                e.workers.append(worker_process(db, url, None, tmp_path, ["--vantage", v], env, net.prefix(v)))
            try:
                # 1. as assigned: Nanning's subtree to a, Liuzhou's to b
                outcome = submit_sweeps(db, e.tasks, assigned, ProbeKind.ICMP)
                assert outcome.targets == 5  # by hand: NN, NN-XN → a; LZ, LZ-LB → b; GX → the central queue
                first = {j["queue"]: j["id"] for j in e.tasks.recent()}
                assert sorted(first) == sorted(queues)
                done = {q: e.wait(first[q], timeout=120) for q in queues[1:]}
                assert {q: (j.status, j.result["probed_by"], j.result["targets"]) for q, j in done.items()} == {  # type: ignore[index]
                    f"probe.{a}": (TaskStatus.SUCCEEDED, a, 2),
                    f"probe.{b}": (TaskStatus.SUCCEEDED, b, 2),
                }
                assert e.row(first["probe"]).status == TaskStatus.QUEUED  # no central worker: GX waits for one
                with db.read_session() as s:
                    rows = report(s, assigned, "icmp", 60, now_utc())
                assert [(r.vantage, r.nodes, r.probed, r.up, r.down, r.stale) for r in rows] == [
                    (a, 2, 2, 2, 0, False),
                    (b, 2, 2, 2, 0, False),
                    (None, 1, 0, 0, 0, True),  # GX waits on the central queue: never probed
                ]  # the per-vantage report (GET /api/v1/collectors/vantages) of what the workers wrote
                assert records(db) == {
                    (nanning, a, True),
                    (xingning, a, True),
                    (liuzhou, b, True),
                    (liubei, b, True),
                }  # 4 results, each from its own vantage; GX not probed by either
                # 2. the same nodes probed from the other side: nobody there can reach them
                submit_sweeps(db, e.tasks, {a: ("LZ",), b: ("NN",)}, ProbeKind.ICMP)
                second = {j["queue"]: j["id"] for j in e.tasks.recent() if j["id"] not in first.values()}
                swapped = {q: e.wait(second[q], timeout=120) for q in queues[1:]}
                assert {q: (j.status, j.result["probed_by"], j.result["targets"]) for q, j in swapped.items()} == {  # type: ignore[index]
                    f"probe.{a}": (TaskStatus.SUCCEEDED, a, 2),
                    f"probe.{b}": (TaskStatus.SUCCEEDED, b, 2),
                }
                assert records(db) - {
                    (nanning, a, True),
                    (xingning, a, True),
                    (liuzhou, b, True),
                    (liubei, b, True),
                } == {
                    (liuzhou, a, False),
                    (liubei, a, False),
                    (nanning, b, False),
                    (xingning, b, False),
                }  # by hand: 4 more results, all down: a has no route to Liuzhou's part, b none to Nanning's
                # 3. b's worker stops: a keeps probing, b goes stale (no result within 3 intervals of 2 s)
                stop_workers(e.workers[1:])
                time.sleep(6.5)
                before = {j["id"] for j in e.tasks.recent()}
                submit_sweeps(db, e.tasks, assigned, ProbeKind.ICMP)
                third = {j["queue"]: j["id"] for j in e.tasks.recent() if j["id"] not in before}
                assert e.wait(third[f"probe.{a}"], timeout=120).status == TaskStatus.SUCCEEDED
                assert e.row(third[f"probe.{b}"]).status == TaskStatus.QUEUED  # nobody consumes probe.b now
                with db.read_session() as s:
                    rows = report(s, assigned, "icmp", 2, now_utc())
                assert [(r.vantage, r.nodes, r.probed, r.up, r.down, r.stale) for r in rows] == [
                    (a, 2, 2, 2, 0, False),  # by hand: NN, NN-XN just probed from a, both up
                    (b, 2, 0, 0, 0, True),  # LZ, LZ-LB: b's last results are > 6 s old
                    (None, 1, 0, 0, 0, True),  # GX: never probed (no central worker)
                ]
            finally:
                stop_workers(e.workers)
    finally:
        with celery.app.connection_for_write() as conn:
            for q in queues:
                conn.default_channel.queue_delete(q)
        celery.stop()
