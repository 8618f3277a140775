"""Grafana dashboards: the committed JSON is what the generator makes, and every query names real series."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from dashboards.grafana import office
from dashboards.rates import HEADLINE_KEYS, LABELS

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "dashboards" / "rules"
EXPORTED = {
    "yunwang_rate_ratio",
    "yunwang_rate_numerator_items",
    "yunwang_rate_denominator_items",
    "yunwang_rate_excluded_items",
    "yunwang_rate_target_ratio",
    "yunwang_rate_target_schedule_ratio",
    "yunwang_rate_info",
    "yunwang_unit_info",
    "yunwang_city_info",
    "yunwang_rates_recompute_duration_seconds",
    "yunwang_rates_last_success_timestamp_seconds",
    "yunwang_rates_recompute_failures_total",
    "yunwang_http_request_duration_seconds_bucket",
    "up",
}


def recorded() -> set[str]:
    names = set()
    for f in RULES.glob("*.yml"):
        for group in yaml.safe_load(f.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def exprs(dashboard: dict) -> list[str]:  # type: ignore[type-arg]
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_committed_json_is_what_the_generator_makes() -> None:
    for name, text in office.render().items():
        committed = (office.OUT_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run python -m dashboards.grafana.office"


def test_every_query_reads_an_exported_or_recorded_series() -> None:
    known = EXPORTED | recorded()
    funcs = {"sum", "by", "on", "group_left", "sort", "bottomk", "time", "histogram_quantile", "rate", "le"}
    for text in office.render().values():
        dash = json.loads(text)
        found = exprs(dash)
        assert found
        for expr in found:
            names = set(re.findall(r"[a-z_:][a-z0-9_:]*(?=\s*[{(\[)]|\s*$|\s)", expr)) - funcs
            series = {n for n in names if n.startswith(("yunwang", "up"))}
            assert series, expr
            assert series <= known, f"{expr}: unknown {series - known}"


def test_office_dashboard_has_every_rate_and_the_rankings() -> None:
    dash = json.loads(office.render()["yunwang-rates.json"])
    titles = [p["title"] for p in dash["panels"]]
    for key in HEADLINE_KEYS:  # the five rates with targets; consolidation figures are in API and metrics
        assert LABELS[key][0] in titles
    assert any("各市排名" in t for t in titles) and any("单位排名" in t for t in titles)
    assert dash["uid"] == "yunwang-rates"
    assert {v["name"] for v in dash["templating"]["list"]} == {"datasource", "rate"}


def test_provisioning_files_point_at_prometheus_and_the_json() -> None:
    prov = ROOT / "dashboards" / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "yunwang.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    dp = yaml.safe_load((prov / "dashboards" / "yunwang.yml").read_text())
    assert dp["providers"][0]["type"] == "file"
