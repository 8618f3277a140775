"""Pure decisions: node state from probe results, coverage, horizontal access, port lists."""

from __future__ import annotations

from collectors.live import coverage, horizontal_access
from collectors.results import ProbeError, ProbeKind, ProbeResult, node_state, parse_ports
from collectors.store import NodeInfo
from inventory.areas import Place, RegionTree
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


def test_a_refused_connection_is_the_host_answering_not_a_down_node() -> None:
    refused = ProbeResult(ProbeKind.TCP, "::1", "v", False, port=22, error=ProbeError.REFUSED)
    unpingable = ProbeResult(ProbeKind.ICMP, "::1", "v", False, error=ProbeError.BAD_TARGET)
    assert node_state(unpingable, [refused], 0.2) == NodeState.DEGRADED  # an IPv6 node ICMP cannot ping
    assert node_state(icmp(5, 0), [refused], 0.2) == NodeState.DEGRADED
    timed_out = ProbeResult(ProbeKind.TCP, "192.0.2.1", "v", False, port=22, error=ProbeError.TIMEOUT)
    assert node_state(icmp(5, 0), [timed_out], 0.2) == NodeState.DOWN


def test_silent_node_is_down_and_unprobed_is_unknown() -> None:
    assert node_state(icmp(5, 0), [tcp(False)], 0.2) == NodeState.DOWN
    assert node_state(None, [], 0.2) == NodeState.UNKNOWN


def test_parse_ports_ignores_junk() -> None:
    assert parse_ports("22, 443;x,70000,0") == [22, 443]
    assert parse_ports(None) == []


def _node(i: int, level: str, region: int, state: NodeState) -> NodeInfo:
    return NodeInfo(i, f"N{i}", f"N{i}", level, "192.0.2.1", (), None, "", "", state, None, region)


def _tree() -> RegionTree:
    """广西 (1) → 南宁市 (10: 兴宁区 100, 青秀区 101 → 青秀街道 1010) and 柳州市 (20: 城中区 200, 鱼峰区 201)."""
    rows = [
        (1, "450000", "广西", "region", None),
        (10, "450100", "南宁市", "city", 1),
        (100, "450102", "兴宁区", "county", 10),
        (101, "450103", "青秀区", "county", 10),
        (1010, "450103001", "青秀街道", "township", 101),
        (20, "450200", "柳州市", "city", 1),
        (200, "450202", "城中区", "county", 20),
        (201, "450203", "鱼峰区", "county", 20),
    ]
    return RegionTree({r[0]: Place(*r) for r in rows})


def test_coverage_counts_places_not_nodes() -> None:
    nodes = [
        _node(1, "region", 1, NodeState.UP),
        _node(2, "city", 10, NodeState.UP),
        _node(3, "city", 20, NodeState.DOWN),
        _node(4, "county", 200, NodeState.DEGRADED),  # 城中区 covered
        _node(5, "county", 200, NodeState.UP),  # a second node in 城中区 adds no place
        _node(6, "county", 201, NodeState.UNKNOWN),  # 鱼峰区: a node, but not working
        # 兴宁区 and 青秀区 have no node at all; 青秀街道 neither
    ]
    rows, gaps = coverage(_tree(), nodes, {n.id: n.state for n in nodes})
    got = {(c.level, c.city): (c.areas, c.covered) for c in rows}
    # hand count: counties 兴宁 青秀 城中 鱼峰 = 4 areas, 1 covered (城中); the old node count said 2 nodes, 1 up
    assert got == {
        ("region", ""): (1, 1),
        ("city", ""): (2, 1),
        ("city", "450100"): (1, 1),
        ("city", "450200"): (1, 0),
        ("county", ""): (4, 1),
        ("county", "450100"): (2, 0),
        ("county", "450200"): (2, 1),
        ("township", ""): (1, 0),
        ("township", "450100"): (1, 0),
    }
    assert [(g.level, g.city, g.code, g.nodes) for g in gaps] == [
        ("city", "450200", "450200", 1),
        ("county", "450100", "450102", 0),
        ("county", "450100", "450103", 0),
        ("county", "450200", "450203", 1),
        ("township", "450100", "450103001", 0),
    ]


def test_horizontal_access_counts_units_on_an_up_node_of_their_own_level_and_area() -> None:
    tree = _tree()
    nodes = [(10, "city", 10), (11, "city", 20), (12, "county", 100), (13, "county", 101)]
    units = [
        (1, "city", 10),  # 南宁 unit → 南宁 node (up): counts
        (2, "city", 10),  # 南宁 unit → 柳州 node (up): another city's node, not counted
        (3, "city", 20),  # 柳州 unit: no access
        (4, "county", 100),  # 兴宁 bureau → 兴宁 node (up): counts
        (5, "county", 101),  # 青秀 bureau → 南宁 city node: wrong level, not counted
        (6, "county", 101),  # 青秀 bureau → 青秀 node (down): not counted
    ]
    access = [(1, 10), (2, 11), (4, 12), (5, 10), (6, 13)]
    rows = {a.level: (a.units, a.connected_up) for a in horizontal_access(tree, units, access, nodes, {10, 11, 12})}
    assert rows == {"city": (3, 1), "county": (3, 1), "all": (6, 2)}


def test_a_target_that_cannot_be_probed_never_makes_a_node_down() -> None:
    bad = ProbeResult(ProbeKind.ICMP, "10.0.0.999", "v", False, ProbeError.BAD_TARGET, sent=0, received=0)
    bad_port = ProbeResult(ProbeKind.TCP, "10.0.0.999", "v", False, ProbeError.BAD_TARGET, port=22)
    assert node_state(bad, [], 0.2) == NodeState.UNKNOWN
    assert node_state(bad, [bad_port], 0.2) == NodeState.UNKNOWN
    assert node_state(icmp(5, 0), [], 0.2) == NodeState.DOWN  # a real silence still is down
