"""Availability and coverage per vantage (collectors/vantage_status.py): nodes assigned, probed within the last
interval by the vantage itself, up, down, last result, stale; the API and the `yunwang_vantage_*` metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from collectors import store
from collectors.results import ProbeKind, ProbeResult
from collectors.vantage_status import VantageBoard, VantageCollector, report
from core.db import Database
from core.enums import Role
from core.times import now_utc
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ASSIGNED = {"nanning": ("NN",), "liuzhou": ("LZ",), "baise": ("BS",), "empty": ("NOPE",)}


def _r(
    node_id: int, vantage: str, ago: float, ok: bool, now: datetime, kind: ProbeKind = ProbeKind.ICMP
) -> ProbeResult:
    return ProbeResult(kind, "198.18.0.1", vantage, ok, at=now - timedelta(seconds=ago), node_id=node_id)


def _setup(db: Database, now: datetime = NOW) -> dict[str, int]:
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region", code="450000", name="广西壮族自治区")
        gx = inv.node(r, code="GX")
        nn = inv.node(r, "city", gx, code="NN")
        xn = inv.node(r, "county", nn, code="NN-XN")
        lz = inv.node(r, "city", gx, code="LZ")
        lb = inv.node(r, "county", lz, code="LZ-LB")
        bs = inv.node(r, "city", gx, code="BS")
        store.record_results(
            s,
            [
                _r(nn, "nanning", 30, True, now),
                _r(nn, "nanning", 3 * 3600, False, now),  # older: the newest counts
                _r(nn, "nanning", 1, False, now, ProbeKind.TCP),  # another kind
                _r(xn, "nanning", 40, False, now),
                _r(xn, "liuzhou", 5, True, now),  # not nanning's own result: not counted for nanning
                _r(lz, "liuzhou", 200, True, now),  # beyond the window (60 s + 10 s jitter)
                _r(lb, "liuzhou", 100, True, now),
                _r(gx, "local", 10, True, now),  # the central workers' vantage
            ],
        )
        s.commit()
    return {"gx": gx, "nn": nn, "xn": xn, "lz": lz, "lb": lb, "bs": bs}


def test_report_counts_each_vantage_by_its_own_results(any_db: Database) -> None:
    _setup(any_db)
    with any_db.read_session() as s:
        rows = report(s, ASSIGNED, "icmp", 60, NOW, window_seconds=70)
        later = report(s, ASSIGNED, "icmp", 60, NOW + timedelta(seconds=151), window_seconds=70)
    got = [(r.vantage, r.nodes, r.probed, r.up, r.down, r.last_result_at, r.stale) for r in rows]
    assert got == [
        ("baise", 1, 0, 0, 0, None, True),  # by hand: BS never probed → stale
        ("empty", 0, 0, 0, 0, None, False),  # no such node: nothing to probe, not stale
        ("liuzhou", 2, 0, 0, 0, NOW - timedelta(seconds=100), False),  # 200 s and 100 s ago: > 70, ≤ 180
        ("nanning", 2, 2, 1, 1, NOW - timedelta(seconds=30), False),  # NN up 30 s ago, NN-XN down 40 s ago
        (None, 1, 1, 1, 0, NOW - timedelta(seconds=10), False),  # GX: the central queue
    ]
    assert [r.queue for r in rows] == ["probe.baise", "probe.empty", "probe.liuzhou", "probe.nanning", "probe"]
    # 151 s later: liuzhou's newest is 251 s old (> 3 × 60), nanning's 181 s; GX 161 s (not yet)
    assert [(r.label, r.probed, r.stale) for r in later] == [
        ("baise", 0, True),
        ("empty", 0, False),
        ("liuzhou", 0, True),
        ("nanning", 0, True),
        ("central", 0, False),
    ]
    assert rows[3].as_dict()["coverage_ratio"] == 1.0 and rows[2].as_dict()["coverage_ratio"] == 0.0


def test_without_vantages_one_central_row(db: Database) -> None:
    _setup(db)
    with db.read_session() as s:
        rows = report(s, {}, "icmp", 60, NOW, window_seconds=70)
    # by hand: 6 nodes; newest from anyone within 70 s: GX 10 s, NN 30 s, NN-XN 5 s (liuzhou, up) → 3 up
    assert [(r.vantage, r.nodes, r.probed, r.up, r.down, r.stale) for r in rows] == [(None, 6, 3, 3, 0, False)]


def test_metrics_carry_the_vantage_label(db: Database) -> None:
    _setup(db)
    board = VantageBoard(db, ASSIGNED, {"icmp": 60, "tcp": 60}, jitter_seconds=10)
    with db.read_session() as s:
        board.snapshot = board.report(s, now=NOW)
    registry = CollectorRegistry()
    registry.register(VantageCollector(board))
    text = generate_latest(registry).decode()
    assert 'yunwang_vantage_nodes{vantage="nanning"} 2.0' in text
    assert 'yunwang_vantage_nodes_probed{vantage="nanning"} 2.0' in text
    assert 'yunwang_vantage_nodes_up{vantage="nanning"} 1.0' in text
    assert 'yunwang_vantage_nodes_down{vantage="nanning"} 1.0' in text
    assert 'yunwang_vantage_nodes_up{vantage="central"} 1.0' in text
    assert 'yunwang_vantage_interval_seconds{vantage="baise"} 60.0' in text
    line = next(
        x for x in text.splitlines() if x.startswith('yunwang_vantage_last_result_timestamp_seconds{vantage="liuzhou"}')
    )
    assert float(line.split()[-1]) == (NOW - timedelta(seconds=100)).timestamp()  # LZ-LB's result, 100 s before NOW
    assert 'yunwang_vantage_last_result_timestamp_seconds{vantage="baise"}' not in text  # never: no sample


def test_codes_that_match_no_node_are_shown_and_counted(db: Database) -> None:
    # the review: a vantage assigned to an unknown node code showed 0 nodes and never alerted. The nodes are in the
    # database (not known when the settings are read), so the codes matching no node are shown, per vantage
    _setup(db)
    assigned = {"nanning": ("NN", "NN-TYPO"), "liuzhou": ("LZ",), "empty": ("NOPE", "NOPE2")}
    board = VantageBoard(db, assigned, {"icmp": 60, "tcp": 60}, jitter_seconds=10)
    with db.read_session() as s:
        board.snapshot = board.report(s, now=NOW)
    by_label = {r.label: r for r in board.snapshot}
    assert {k: r.unknown_codes for k, r in by_label.items()} == {
        "empty": ("NOPE", "NOPE2"),
        "liuzhou": (),
        "nanning": ("NN-TYPO",),
        "central": (),
    }
    assert by_label["empty"].as_dict()["unknown_codes"] == ["NOPE", "NOPE2"]
    registry = CollectorRegistry()
    registry.register(VantageCollector(board))
    text = generate_latest(registry).decode()
    assert 'yunwang_vantage_unknown_nodes{vantage="empty"} 2.0' in text
    assert 'yunwang_vantage_unknown_nodes{vantage="nanning"} 1.0' in text
    assert 'yunwang_vantage_unknown_nodes{vantage="liuzhou"} 0.0' in text
    assert 'yunwang_vantage_unknown_nodes{vantage="central"}' not in text  # no codes: nothing to be wrong


def test_vantages_route_reads_per_vantage_for_every_role(
    db: Database, tmp_path: Path, token_for: Callable[..., str]
) -> None:
    ids = _setup(db, now_utc())
    settings = Settings(
        database_url=db.url,
        data_dir=tmp_path / "data",
        scheduler_enabled=False,
        vantages="nanning=NN;liuzhou=LZ;baise=BS;empty=NOPE",
    )
    with TestClient(create_app(settings, registry=CollectorRegistry(), database=db)) as client:
        client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
        r = client.get("/api/v1/collectors/vantages")
        assert r.status_code == 200, r.text
        rows = {row["label"]: row for row in r.json()}
        assert sorted(rows) == ["baise", "central", "empty", "liuzhou", "nanning"]
        nanning = rows["nanning"]
        assert (nanning["nodes"], nanning["probed"], nanning["up"], nanning["down"], nanning["stale"]) == (
            2,
            2,
            1,
            1,
            False,
        )  # defaults: ICMP every 60 s, jitter 10 s
        assert nanning["last_result_at"][-6:] in ("+08:00", "+00:00")  # with its offset
        assert (rows["baise"]["stale"], rows["baise"]["last_result_at"]) == (True, None)
        assert (rows["empty"]["nodes"], rows["empty"]["unknown_codes"]) == (0, ["NOPE"])  # a code of no node
        assert rows["nanning"]["unknown_codes"] == []
        assert rows["central"]["vantage"] is None and rows["central"]["queue"] == "probe"
        tcp = {row["label"]: row for row in client.get("/api/v1/collectors/vantages", params={"kind": "tcp"}).json()}
        assert (tcp["nanning"]["probed"], tcp["nanning"]["down"]) == (1, 1)  # NN's TCP probe 1 s ago
        bad = client.get("/api/v1/collectors/vantages", params={"kind": "ping"})
        assert bad.status_code == 422 and "error" in bad.json()
    assert ids["bs"] > 0
