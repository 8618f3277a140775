"""The network admins' Grafana dashboard: committed JSON is current and reads only series that exist."""

from __future__ import annotations

import re

import yaml

from dashboards.grafana import extranet
from dashboards.grafana.extranet import OUT, queries

COLLECTOR_SERIES = {
    "yunwang_node_up",
    "yunwang_node_state",
    "yunwang_node_rtt_seconds",
    "yunwang_node_loss_ratio",
    "yunwang_extranet_coverage_ratio",
    "yunwang_extranet_horizontal_access_live_ratio",
    "yunwang_probe_sweep_duration_seconds",
    "yunwang_vantage_last_result_timestamp_seconds",  # collectors/vantage_status.py
}


def test_committed_json_is_regenerated() -> None:
    assert OUT.read_text(encoding="utf-8") == extranet.render()


def test_every_query_reads_collector_series_or_extranet_recording_rules() -> None:
    rules = yaml.safe_load((OUT.parents[2] / "rules" / "extranet.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    names = {m for q in queries() for m in re.findall(r"\b(yunwang[:_][a-z_:]+)", q)}
    assert names and names <= COLLECTOR_SERIES | recorded
    assert len(queries()) >= 10
