"""Prometheus view of the live snapshot: per-node up/RTT/loss, coverage and live horizontal access.

Labels are bounded: level, city, county, node (the node code); never error text or addresses.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from collectors.live import LiveView
from inventory.enums import NodeState

NODE_LABELS = ["level", "city", "county", "node"]


class ExtranetCollector(Collector):
    """Reads the snapshot made after the last sweep; a scrape does no probing and no queries."""

    def __init__(self, live: LiveView) -> None:
        self.live = live

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.live.snapshot
        up = GaugeMetricFamily(
            "yunwang_node_up", "1 when the extranet node answers (up or degraded)", labels=NODE_LABELS
        )
        state = GaugeMetricFamily(
            "yunwang_node_state",
            "Node state: 1 for the current one of up/degraded/down/unknown",
            labels=[*NODE_LABELS, "state"],
        )
        rtt = GaugeMetricFamily(
            "yunwang_node_rtt_seconds", "Average ICMP round-trip time of the last sweep", labels=NODE_LABELS
        )
        loss = GaugeMetricFamily(
            "yunwang_node_loss_ratio", "ICMP packet loss of the last sweep (0..1)", labels=NODE_LABELS
        )
        for n in snap.nodes:
            labels = [n.level, n.city, n.county, n.code]
            if n.state != NodeState.UNKNOWN:
                up.add_metric(labels, 1.0 if n.state in (NodeState.UP, NodeState.DEGRADED) else 0.0)
            for s in NodeState:
                state.add_metric([*labels, s.value], 1.0 if n.state == s else 0.0)
            r = snap.icmp.get(n.id)
            if r is not None:
                if r.loss_ratio is not None:
                    loss.add_metric(labels, r.loss_ratio)
                if r.rtt_avg_seconds is not None:
                    rtt.add_metric(labels, r.rtt_avg_seconds)
        yield from (up, state, rtt, loss)
        expected = GaugeMetricFamily(
            "yunwang_extranet_areas", "Administrative areas of a level in the region tree", labels=["level", "city"]
        )
        reachable = GaugeMetricFamily(
            "yunwang_extranet_areas_covered",
            "Areas of a level with a working (up or degraded) extranet node of that level",
            labels=["level", "city"],
        )
        ratio = GaugeMetricFamily(
            "yunwang_extranet_coverage_ratio",
            "Covered areas / all areas of a level (四级覆盖, places)",
            labels=["level", "city"],
        )
        gaps = GaugeMetricFamily(
            "yunwang_extranet_uncovered_area",
            "1 for each area without a working node of its level (gap list)",
            labels=["level", "city", "area", "area_name"],
        )
        for c in snap.coverage:
            expected.add_metric([c.level, c.city_name], c.areas)
            reachable.add_metric([c.level, c.city_name], c.covered)
            if c.ratio is not None:
                ratio.add_metric([c.level, c.city_name], c.ratio)
        for g in snap.gaps:
            gaps.add_metric([g.level, g.city_name, g.code, g.name], 1.0)
        yield from (expected, reachable, ratio, gaps)
        access = GaugeMetricFamily(
            "yunwang_extranet_horizontal_access_live_ratio",
            "Units whose horizontal access node is up now / units (横向接入率, live)",
            labels=["level"],
        )
        for a in snap.access:
            if a.ratio is not None:
                access.add_metric([a.level], a.ratio)
        yield access
        took = GaugeMetricFamily("yunwang_probe_sweep_duration_seconds", "Duration of the last sweep", labels=["kind"])
        last = GaugeMetricFamily("yunwang_probe_sweep_last_timestamp_seconds", "End of the last sweep", labels=["kind"])
        for kind, seconds in snap.sweep_seconds.items():
            took.add_metric([kind], seconds)
            last.add_metric([kind], snap.sweep_finished[kind].timestamp())
        yield from (took, last)
