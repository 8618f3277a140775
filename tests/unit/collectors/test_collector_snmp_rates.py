"""Rates from two SNMP samples, counted by hand: bits/s, 64-bit wrap, agent restart, utilisation, uplinks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collectors.snmp import InterfaceSample, SnmpSample, rate
from collectors.snmp_store import InterfaceRow, uplinks

T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def sample(uptime: float, at: datetime, in_octets: int, out_octets: int, speed: int = 1_000_000_000) -> SnmpSample:
    i = InterfaceSample(3, "GE0/0/1", True, speed, in_octets, out_octets, 0, 0, 0, 0)
    return SnmpSample(uptime, {3: i}, at)


def test_rate_is_octets_times_8_over_seconds_and_utilisation_the_larger_direction() -> None:
    a = sample(100.0, T0, 1_000_000, 5_000_000)
    b = sample(110.0, T0 + timedelta(seconds=10), 26_000_000, 6_250_000)
    r = rate(a, b, 3)
    assert r is not None
    assert r.in_bps == 20_000_000.0  # 25,000,000 octets × 8 / 10 s
    assert r.out_bps == 1_000_000.0  # 1,250,000 × 8 / 10
    assert r.utilisation == 0.02  # 20 Mb/s of 1 Gb/s


def test_a_64_bit_counter_that_wrapped_still_gives_the_right_rate() -> None:
    a = sample(100.0, T0, 2**64 - 1_000, 0)
    b = sample(101.0, T0 + timedelta(seconds=1), 1_500, 0)
    r = rate(a, b, 3)
    assert r is not None and r.in_bps == 20_000.0  # 2,500 octets × 8 / 1 s


def test_an_agent_restart_gives_no_rate_and_unknown_speed_no_utilisation() -> None:
    a = sample(100.0, T0, 9_000_000, 0)
    assert rate(a, sample(5.0, T0 + timedelta(seconds=10), 10, 0), 3) is None  # sysUpTime went back
    r = rate(a, sample(110.0, T0 + timedelta(seconds=10), 9_000_000, 0, speed=0), 3)
    assert r is not None and r.in_bps == 0.0 and r.utilisation is None


def row(node: int, in_bps: float | None, out_bps: float | None, speed: float, uplink: bool = True) -> InterfaceRow:
    return InterfaceRow(node, f"N{node}", 1, "D", "if", uplink, True, speed, in_bps, out_bps, None, 0, 0, 0, 0, 1.0, T0)


def test_a_nodes_uplink_sums_its_uplink_interfaces_against_their_capacity() -> None:
    rows = [
        row(1, 300e6, 100e6, 1e9),
        row(1, 500e6, 50e6, 1e9),
        row(1, 900e6, 900e6, 1e9, uplink=False),  # not an uplink: left out
        row(2, None, None, 1e9),  # one poll only: no rate yet
    ]
    one, two = uplinks(rows)
    assert (one.node_id, one.interfaces, one.in_bps, one.out_bps, one.capacity_bps) == (1, 2, 800e6, 150e6, 2e9)
    assert one.utilisation == 0.4  # 800 Mb/s of 2 Gb/s
    assert (two.in_bps, two.utilisation) == (None, None)


def test_uptime_is_not_exported_for_a_device_whose_last_poll_failed() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from collectors.snmp_metrics import SnmpCollector
    from collectors.snmp_store import SnmpSnapshot, SnmpView

    ok = InterfaceRow(1, "N1", 10, "D-OK", "GE0/0/1", True, True, 1e9, None, None, None, 0, 0, 0, 0, 7200.0, T0)
    down = InterfaceRow(2, "N2", 20, "D-DOWN", "GE0/0/1", True, True, 1e9, None, None, None, 0, 0, 0, 0, 3600.0, T0)
    view = SnmpView()
    view.snapshot = SnmpSnapshot([ok, down], {(10, "N1", "D-OK"): True, (20, "N2", "D-DOWN"): False}, T0)
    registry = CollectorRegistry()
    registry.register(SnmpCollector(view))
    text = generate_latest(registry).decode()
    assert 'yunwang_snmp_up{device="D-OK",node="N1"} 1.0' in text
    assert 'yunwang_snmp_up{device="D-DOWN",node="N2"} 0.0' in text
    assert 'yunwang_snmp_uptime_seconds{device="D-OK",node="N1"} 7200.0' in text
    assert 'yunwang_snmp_uptime_seconds{device="D-DOWN"' not in text  # its last value is not repeated
