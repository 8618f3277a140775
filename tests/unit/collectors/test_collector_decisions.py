"""Pure decisions: node state from probe results, coverage, horizontal access, port lists."""

from __future__ import annotations

from collectors.live import coverage, horizontal_access
from collectors.results import ProbeError, ProbeKind, ProbeResult, node_state, parse_ports
from collectors.store import NodeInfo
from inventory.enums import NodeState


def icmp(sent: int, received: int) -> ProbeResult:
    return ProbeResult(ProbeKind.ICMP, "192.0.2.1", "v", received > 0, sent=sent, received=received)


def tcp(ok: bool) -> ProbeResult:
    return ProbeResult(ProbeKind.TCP, "192.0.2.1", "v", ok, port=22)


def test_node_with_clean_replies_is_up() -> None:
    assert node_state(icmp(5, 5), [tcp(True)], 0.2) == NodeState.UP


def test_node_losing_more_than_the_threshold_is_degraded() -> None:
    assert node_state(icmp(10, 7), [], 0.2) == NodeState.DEGRADED
    assert node_state(icmp(10, 8), [], 0.2) == NodeState.UP


def test_degraded_node_recovers_only_below_half_the_threshold() -> None:
    assert node_state(icmp(20, 17), [], 0.2, previous=NodeState.DEGRADED) == NodeState.DEGRADED
    assert node_state(icmp(20, 19), [], 0.2, previous=NodeState.DEGRADED) == NodeState.UP
    assert node_state(icmp(20, 17), [], 0.2, previous=NodeState.UP) == NodeState.UP


def test_closed_service_port_degrades_an_answering_node() -> None:
    assert node_state(icmp(5, 5), [tcp(True), tcp(False)], 0.2) == NodeState.DEGRADED


def test_node_that_blocks_icmp_but_serves_tcp_is_degraded_not_down() -> None:
    assert node_state(icmp(5, 0), [tcp(True)], 0.2) == NodeState.DEGRADED


def test_silent_node_is_down_and_unprobed_is_unknown() -> None:
    assert node_state(icmp(5, 0), [tcp(False)], 0.2) == NodeState.DOWN
    assert node_state(None, [], 0.2) == NodeState.UNKNOWN


def test_parse_ports_ignores_junk() -> None:
    assert parse_ports("22, 443;x,70000,0") == [22, 443]
    assert parse_ports(None) == []


def _node(i: int, level: str, city: str, state: NodeState) -> NodeInfo:
    return NodeInfo(i, f"N{i}", f"N{i}", level, "192.0.2.1", (), None, city, "", state, None)


def test_coverage_counts_expected_and_reachable_per_level_and_city() -> None:
    nodes = [
        _node(1, "region", "", NodeState.UP),
        _node(2, "city", "南宁市", NodeState.UP),
        _node(3, "city", "柳州市", NodeState.DOWN),
        _node(4, "county", "柳州市", NodeState.DEGRADED),
        _node(5, "county", "柳州市", NodeState.UNKNOWN),
    ]
    rows = {(c.level, c.city): (c.expected, c.reachable) for c in coverage(nodes, {n.id: n.state for n in nodes})}
    assert rows == {
        ("region", ""): (1, 1),
        ("city", ""): (2, 1),
        ("city", "南宁市"): (1, 1),
        ("city", "柳州市"): (1, 0),
        ("county", ""): (2, 1),
        ("county", "柳州市"): (2, 1),
    }


def test_horizontal_access_counts_units_whose_access_node_is_up() -> None:
    units = [(1, "city"), (2, "city"), (3, "city"), (4, "county")]
    access = [(1, 10), (2, 11), (4, 10)]
    rows = {a.level: (a.units, a.connected_up, a.ratio) for a in horizontal_access(units, access, up_nodes={10})}
    assert rows["city"] == (3, 1, 1 / 3)
    assert rows["county"] == (1, 1, 1.0)
    assert rows["all"] == (4, 2, 0.5)


def test_a_target_that_cannot_be_probed_never_makes_a_node_down() -> None:
    bad = ProbeResult(ProbeKind.ICMP, "10.0.0.999", "v", False, ProbeError.BAD_TARGET, sent=0, received=0)
    bad_port = ProbeResult(ProbeKind.TCP, "10.0.0.999", "v", False, ProbeError.BAD_TARGET, port=22)
    assert node_state(bad, [], 0.2) == NodeState.UNKNOWN
    assert node_state(bad, [bad_port], 0.2) == NodeState.UNKNOWN
    assert node_state(icmp(5, 0), [], 0.2) == NodeState.DOWN  # a real silence still is down
