"""Every series a Grafana panel names (all three shipped dashboards) is served by yunwang's real /metrics or recorded
by a shipped Prometheus rule — read from the app's actual output, not from a hand-kept list."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.db import Database
from core.enums import Role
from core.wiring import services
from dashboards.grafana import extranet, office
from dashboards.metrics import RATES_EXPORTER
from tests import known_rates

RULES = Path(__file__).resolve().parents[3] / "dashboards" / "rules"
PROMETHEUS_OWN = {"up"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}


def dashboard_queries() -> dict[str, list[str]]:
    texts = {**office.render(), "yunwang-extranet.json": extranet.render()}
    return {
        name: [t["expr"] for p in json.loads(text)["panels"] for t in p.get("targets", [])]
        for name, text in texts.items()
    }


def series_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: label matchers, grouping lists, ranges and strings removed first; what
    is left and not called like a function or a keyword is a metric name."""
    stripped = re.sub(r'"[^"]*"', "", expr)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        follows = stripped[m.end() :].lstrip()
        if not follows.startswith("(") and m.group() not in KEYWORDS:
            names.add(m.group())
    return names


def test_series_names_are_found_in_a_query() -> None:  # the parser above, on examples checked by hand
    assert series_names('sort(yunwang:rate_by_city:ratio{rate="$rate"} * on (city) group_left (city_name) x_info)') == {
        "yunwang:rate_by_city:ratio",
        "x_info",
    }
    assert series_names(
        "histogram_quantile(0.99, sum by (route, le) (rate(yunwang_http_request_duration_seconds_bucket[5m])))"
    ) == {"yunwang_http_request_duration_seconds_bucket"}
    assert series_names('count(yunwang_node_up{city=~"$city"} == 0) or vector(0)') == {"yunwang_node_up"}
    assert series_names("time() - yunwang_rates_last_success_timestamp_seconds") == {
        "yunwang_rates_last_success_timestamp_seconds"
    }


def recorded() -> set[str]:
    names = set()
    for f in RULES.glob("*.yml"):
        for group in yaml.safe_load(f.read_text(encoding="utf-8"))["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def exported(text: str) -> set[str]:
    names = set()
    for fam in text_string_to_metric_families(text):
        names.add(fam.name)
        names |= {s.name for s in fam.samples}
        if fam.type == "histogram":
            names |= {fam.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        if fam.type == "counter":
            names.add(fam.name + "_total")
    return names


def test_every_series_a_panel_names_is_exported_or_recorded(
    client: TestClient, db: Database, token_for: Callable[..., str]
) -> None:
    with db.session() as s:
        known_rates.build(s)
        s.commit()
    services(client.app).get(RATES_EXPORTER).recompute()  # type: ignore[arg-type]
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    assert client.get("/api/v1/rates/systems_migrated").status_code == 200  # one request for the latency histogram
    r = client.get("/metrics")
    assert r.status_code == 200
    served = exported(r.text)
    assert {"yunwang_node_up", "yunwang_rate_ratio", "yunwang_http_request_duration_seconds_bucket"} <= served
    known = served | recorded() | PROMETHEUS_OWN
    queries = dashboard_queries()
    assert sorted(queries) == ["yunwang-extranet.json", "yunwang-rates.json", "yunwang-service.json"]
    assert [len(q) for q in queries.values()] == [11, 4, 14]  # panels' targets, counted in the generators
    for name, exprs in queries.items():
        for expr in exprs:
            names = series_names(expr)
            assert names, (name, expr)
            assert names <= known, f"{name}: {expr}: not exported nor recorded: {sorted(names - known)}"
