"""Prometheus view of the SNMP snapshot: interface and uplink rates (bits/s), utilisation (0–1), errors, discards.

Labels are bounded: node and device codes, interface names, direction; never addresses or credentials.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from collectors.snmp_store import SnmpView, uplinks

IF_LABELS = ["node", "device", "interface"]


class SnmpCollector(Collector):
    """Reads the snapshot made after the last SNMP sweep; a scrape polls nothing and queries nothing."""

    def __init__(self, view: SnmpView) -> None:
        self.view = view

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        snap = self.view.snapshot
        up = GaugeMetricFamily(
            "yunwang_snmp_up", "1 when the device answered the last SNMP poll", labels=["node", "device"]
        )
        for (_id, node, device), ok in sorted(snap.devices_up.items()):
            up.add_metric([node, device], 1.0 if ok else 0.0)
        yield up
        bps = GaugeMetricFamily(
            "yunwang_interface_bits_per_second",
            "Interface traffic between the last two SNMP polls",
            labels=[*IF_LABELS, "direction"],
        )
        util = GaugeMetricFamily(
            "yunwang_interface_utilisation_ratio",
            "max(in, out) / ifHighSpeed between the last two polls (0..1)",
            labels=IF_LABELS,
        )
        oper = GaugeMetricFamily("yunwang_interface_oper_up", "1 when ifOperStatus is up", labels=IF_LABELS)
        speed = GaugeMetricFamily("yunwang_interface_speed_bits_per_second", "ifHighSpeed × 10⁶", labels=IF_LABELS)
        errors = CounterMetricFamily(
            "yunwang_interface_errors",
            "ifInErrors / ifOutErrors as the agent counts them",
            labels=[*IF_LABELS, "direction"],
        )
        discards = CounterMetricFamily(
            "yunwang_interface_discards",
            "ifInDiscards / ifOutDiscards as the agent counts them",
            labels=[*IF_LABELS, "direction"],
        )
        uptime = GaugeMetricFamily(
            "yunwang_snmp_uptime_seconds",
            "sysUpTime of the device's agent at its last poll; absent when that poll failed",
            labels=["node", "device"],
        )
        # A device whose last poll failed has no current sysUpTime: no sample, as `yunwang_snmp_up` is 0.
        seen = {(node, device) for (_id, node, device), ok in snap.devices_up.items() if not ok}
        for r in snap.interfaces:
            labels = [r.node_code, r.device_code, r.name]
            if r.in_bps is not None and r.out_bps is not None:
                bps.add_metric([*labels, "in"], r.in_bps)
                bps.add_metric([*labels, "out"], r.out_bps)
            if r.utilisation is not None:
                util.add_metric(labels, r.utilisation)
            oper.add_metric(labels, 1.0 if r.oper_up else 0.0)
            speed.add_metric(labels, r.speed_bps)
            errors.add_metric([*labels, "in"], r.in_errors)
            errors.add_metric([*labels, "out"], r.out_errors)
            discards.add_metric([*labels, "in"], r.in_discards)
            discards.add_metric([*labels, "out"], r.out_discards)
            if (r.node_code, r.device_code) not in seen:
                seen.add((r.node_code, r.device_code))
                uptime.add_metric([r.node_code, r.device_code], r.uptime_seconds)
        yield from (bps, util, oper, speed, errors, discards, uptime)
        node_bps = GaugeMetricFamily(
            "yunwang_node_uplink_bits_per_second",
            "A node's uplink traffic (its devices' uplink interfaces summed)",
            labels=["node", "direction"],
        )
        node_util = GaugeMetricFamily(
            "yunwang_node_uplink_utilisation_ratio",
            "A node's uplink utilisation: max(in, out) / capacity (0..1)",
            labels=["node"],
        )
        for u in uplinks(snap.interfaces):
            if u.in_bps is not None and u.out_bps is not None:
                node_bps.add_metric([u.node_code, "in"], u.in_bps)
                node_bps.add_metric([u.node_code, "out"], u.out_bps)
            if u.utilisation is not None:
                node_util.add_metric([u.node_code], u.utilisation)
        yield from (node_bps, node_util)
