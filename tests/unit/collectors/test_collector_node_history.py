"""GET /api/v1/collectors/nodes/{id}/history: a node's ICMP samples and state periods in a window (console
sparkline and state history)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from collectors import history, store
from collectors.models import NodeStatePeriod
from collectors.results import ProbeKind, ProbeResult
from core.db import Database
from core.enums import Role
from core.times import now_utc
from inventory.enums import NodeState
from tests.builders import Inv

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
URL = "/api/v1/collectors/nodes"


def _icmp(node_id: int, at: datetime, rtt: float | None, received: int = 1) -> ProbeResult:
    return ProbeResult(
        ProbeKind.ICMP,
        "127.0.0.1",
        "v",
        received > 0,
        at=at,
        node_id=node_id,
        sent=1,
        received=received,
        rtt_avg_seconds=rtt,
    )


def _setup(db: Database, now: datetime = NOW) -> tuple[int, int]:
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region")
        nid = inv.node(r, address="127.0.0.1")
        other = inv.node(r, address="127.0.0.2")
        store.record_results(
            s,
            [
                _icmp(nid, now - timedelta(hours=30), 0.009),  # outside a 24 h window
                _icmp(nid, now - timedelta(hours=2), 0.0021),
                _icmp(nid, now - timedelta(hours=1), None, received=0),
                _icmp(other, now - timedelta(hours=1), 0.5),  # another node's
            ],
        )
        s.add_all(
            [
                NodeStatePeriod(
                    node_id=nid, state=NodeState.UP, since=now - timedelta(days=3), until=now - timedelta(days=2)
                ),
                NodeStatePeriod(
                    node_id=nid, state=NodeState.UP, since=now - timedelta(days=2), until=now - timedelta(hours=1)
                ),
                NodeStatePeriod(node_id=nid, state=NodeState.DOWN, since=now - timedelta(hours=1), until=None),
            ]
        )
        s.commit()
        return nid, other


def test_history_holds_the_window_samples_oldest_first_and_overlapping_periods(db: Database) -> None:
    nid, _ = _setup(db)
    with db.session() as s:
        h = history.node_history(s, nid, 24, at=NOW)
    assert [x["rtt_avg_seconds"] for x in h["samples"]] == [0.0021, None]
    assert [x["ok"] for x in h["samples"]] == [True, False]
    assert h["samples"][0]["at"] == "2026-11-23T10:00:00+00:00"
    assert [(p["state"], p["until"]) for p in h["states"]] == [
        ("down", None),
        ("up", "2026-11-23T11:00:00+00:00"),
    ]  # the period that ended two days ago is outside the window
    assert (h["from"], h["to"]) == ("2026-11-22T12:00:00+00:00", "2026-11-23T12:00:00+00:00")


def test_history_route_is_read_by_every_role_and_refuses_bad_input(
    client: TestClient, db: Database, token_for: Callable[..., str]
) -> None:
    nid, _ = _setup(db, now_utc())
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    r = client.get(f"{URL}/{nid}/history", params={"hours": 48})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["node_id"] == nid and body["hours"] == 48
    assert len(body["samples"]) == 3  # 30 h, 2 h and 1 h ago; not the other node's
    assert [p["state"] for p in body["states"]] == ["down", "up"]  # the first period ended 48 h before
    assert len(client.get(f"{URL}/{nid}/history").json()["samples"]) == 2  # default 24 h
    assert body["from"].endswith("+00:00")
    assert client.get(f"{URL}/{nid}/history", params={"hours": 0}).status_code == 422
    assert client.get(f"{URL}/{nid}/history", params={"hours": 721}).status_code == 422
    one = client.get(URL, params={"node_id": nid}).json()  # the node list narrowed to one node (its page)
    assert [n["id"] for n in one] == [nid] and one[0]["rtt_avg_seconds"] is None  # its newest sample was lost
    assert len(client.get(URL).json()) == 2
    missing = client.get(f"{URL}/999999/history")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_sparklines_average_answered_latency_and_loss_per_bucket(any_db: Database) -> None:
    nid, other = _setup(any_db)
    with any_db.session() as s:
        store.record_results(s, [_icmp(nid, NOW - timedelta(hours=2, minutes=30), 0.0041)])
        s.commit()
        out = history.sparklines(s, None, 24, 4, at=NOW)  # buckets of 6 h: [-24,-18) [-18,-12) [-12,-6) [-6,0)
        only = history.sparklines(s, [other], 24, 4, at=NOW)
    rows = {r["node_id"]: r for r in out["nodes"]}
    assert set(rows) == {nid, other}
    # last bucket of nid: 0.0041 and 0.0021 answered, one lost sample (rtt none, loss 1): mean rtt 0.0031
    assert rows[nid]["rtt_avg_seconds"][:3] == [None, None, None]
    assert round(rows[nid]["rtt_avg_seconds"][3], 9) == 0.0031
    assert round(rows[nid]["loss_ratio"][3], 9) == round(1 / 3, 9)
    assert rows[other]["rtt_avg_seconds"] == [None, None, None, 0.5]
    assert [r["node_id"] for r in only["nodes"]] == [other]
    assert (out["from"], out["points"]) == ("2026-11-22T12:00:00+00:00", 4)


def test_latest_records_are_the_newest_per_node_and_kind(any_db: Database) -> None:
    nid, other = _setup(any_db)
    with any_db.session() as s:
        tcp = ProbeResult(ProbeKind.TCP, "127.0.0.1", "v", True, at=NOW - timedelta(hours=3), node_id=nid, port=22)
        store.record_results(s, [tcp])
        s.commit()
        latest = store.latest_records(s, [nid, other])
        only_icmp = store.latest_records(s, [nid], kinds=("icmp",))
    assert sorted(latest) == sorted([(nid, "icmp"), (nid, "tcp"), (other, "icmp")])
    assert latest[(nid, "icmp")].ok is False  # 1 h ago (lost), newer than the 2 h and 30 h ones
    assert latest[(other, "icmp")].rtt_avg_seconds == 0.5
    assert list(only_icmp) == [(nid, "icmp")]
    with any_db.session() as s:
        assert store.latest_records(s, []) == {}
