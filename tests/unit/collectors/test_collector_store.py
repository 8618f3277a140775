"""Availability from state periods, state writes through the inventory service, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from collectors import store
from collectors.models import NodeStatePeriod, ProbeRecord
from collectors.results import ProbeKind, ProbeResult
from core.audit import ChangeContext
from core.db import Database
from core.models import ChangeLog
from inventory.enums import NodeState
from inventory.models import ExtranetNode
from tests.builders import Inv

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
CTX = ChangeContext(actor="collector:test", role="system")


def test_state_changes_go_through_the_change_log_once(db: Database) -> None:
    with db.session() as s:
        inv = Inv(s)
        nid = inv.node(inv.region("region"), "region", address="192.0.2.1")
        assert store.apply_states(s, {nid: NodeState.DOWN}, CTX, NOW) == [(nid, NodeState.UNKNOWN, NodeState.DOWN)]
        assert store.apply_states(s, {nid: NodeState.DOWN}, CTX, NOW + timedelta(minutes=1)) == []
        node = s.get(ExtranetNode, nid)
        assert node is not None and node.state == NodeState.DOWN
        logged = s.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.actor == "collector:test"))
        assert logged == 1


def test_availability_over_windows_counts_up_and_degraded_time(db: Database) -> None:
    with db.session() as s:
        inv = Inv(s)
        nid = inv.node(inv.region("region"), "region", address="192.0.2.1")
        s.add_all(
            [
                NodeStatePeriod(
                    node_id=nid, state=NodeState.UP, since=NOW - timedelta(days=10), until=NOW - timedelta(hours=12)
                ),
                NodeStatePeriod(
                    node_id=nid, state=NodeState.DOWN, since=NOW - timedelta(hours=12), until=NOW - timedelta(hours=6)
                ),
                NodeStatePeriod(node_id=nid, state=NodeState.DEGRADED, since=NOW - timedelta(hours=6), until=None),
            ]
        )
        s.flush()
        av = store.availability(s, [nid], at=NOW)[nid]
    assert av["1d"] == 0.75
    assert av["7d"] == round(1 - 6 / (7 * 24), 6)
    assert av["30d"] == round(1 - 6 / (10 * 24), 6)  # only observed time counts


def test_history_is_pruned_to_the_retention_window(db: Database) -> None:
    with db.session() as s:
        old = ProbeResult(ProbeKind.ICMP, "192.0.2.1", "v", True, at=NOW - timedelta(hours=49), sent=1, received=1)
        new = ProbeResult(ProbeKind.ICMP, "192.0.2.1", "v", True, at=NOW - timedelta(hours=1), sent=1, received=1)
        store.record_results(s, [old, new])
        store.prune(s, 48, NOW)
        assert s.scalar(select(func.count()).select_from(ProbeRecord)) == 1
