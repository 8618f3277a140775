"""Prometheus view of SSH collection: errors by reason, facts age and staleness per device.

Labels are bounded: reason (a fixed vocabulary), node and device codes; never error text or addresses.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from collectors.device_status import DeviceView
from core.times import now_utc


class DeviceCollector(Collector):
    """Reads the device view refreshed after each SSH sweep; facts age is computed at scrape time."""

    def __init__(self, view: DeviceView) -> None:
        self.view = view

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        rows, errors = self.view.snapshot()
        counted = CounterMetricFamily(
            "yunwang_device_collect_errors",
            "SSH collections that failed, by reason, since the service started",
            labels=["reason"],
        )
        for reason, n in sorted(errors.items()):
            counted.add_metric([reason], n)
        yield counted
        age = GaugeMetricFamily(
            "yunwang_device_facts_age_seconds",
            "Seconds since the device's facts were last collected and parsed",
            labels=["node", "device"],
        )
        stale = GaugeMetricFamily(
            "yunwang_device_facts_stale",
            "1 when the newest collection failed and the facts shown are older ones",
            labels=["node", "device"],
        )
        failing = GaugeMetricFamily(
            "yunwang_device_collect_failing",
            "1 when the device's newest SSH collection failed",
            labels=["node", "device"],
        )
        now = now_utc()
        for r in rows:
            labels = [r.node, r.code]
            if r.facts_at is not None:
                age.add_metric(labels, max(0.0, (now - r.facts_at).total_seconds()))
            stale.add_metric(labels, 1.0 if r.stale else 0.0)
            failing.add_metric(labels, 1.0 if r.failing else 0.0)
        yield from (age, stale, failing)
