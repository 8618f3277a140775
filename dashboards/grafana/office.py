"""Grafana dashboards generated with grafanalib: rates vs targets, unit and city rankings, trends, service health.

Regenerate the committed JSON with `python -m dashboards.grafana.office` (a test checks it is up to date).
Every query reads the exporter's metrics or the recording rules in dashboards/rules/rates.rules.yml.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grafanalib.core import (
    BarGauge,
    Dashboard,
    GridPos,
    Stat,
    Table,
    Target,
    Template,
    Templating,
    Threshold,
    Time,
    TimeSeries,
)

from dashboards.grafana.common import DATASOURCE, datasource_var, to_json
from dashboards.rates import HEADLINE_KEYS, LABELS, RateKey

OUT_DIR = Path(__file__).parent / "json"
RATE_THRESHOLDS = [
    Threshold("red", 0, 0.0),
    Threshold("orange", 1, 0.7),
    Threshold("yellow", 2, 0.9),
    Threshold("green", 3, 1.0),
]


def _rate_var() -> Template:
    return Template(
        name="rate",
        label="指标 / rate",
        query="label_values(yunwang_rate_numerator_items, rate)",
        dataSource=DATASOURCE,
        default=RateKey.SYSTEMS_MIGRATED.value,
        refresh=2,
    )


def _stat(key: RateKey, x: int) -> Stat:
    zh, en = LABELS[key]
    return Stat(
        title=zh,
        description=f"{en}. 目标 / target: yunwang_rate_target_ratio",
        dataSource=DATASOURCE,
        targets=[Target(expr=f'yunwang:rate:ratio{{rate="{key.value}"}}', legendFormat=zh, refId="A")],
        format="percentunit",
        decimals=1,
        reduceCalc="lastNotNull",
        thresholdType="absolute",
        thresholds=RATE_THRESHOLDS,
        gridPos=GridPos(h=5, w=4 if key is not RateKey.CLOUD_NETWORK_UTILISATION else 8, x=x, y=0),
    )


def office_dashboard() -> Dashboard:
    """三个100%与云网统筹 — rates vs targets, rankings of cities and units, trend (for the office)."""
    stats = []
    x = 0
    for key in HEADLINE_KEYS:
        stats.append(_stat(key, x))
        x += stats[-1].gridPos.w
    panels = [
        *stats,
        TimeSeries(
            title="趋势与目标 / trend vs target: $rate",
            dataSource=DATASOURCE,
            targets=[
                Target(expr='yunwang:rate:ratio{rate="$rate"}', legendFormat="全区 / overall", refId="A"),
                Target(expr='yunwang_rate_target_ratio{rate="$rate"}', legendFormat="目标 / target", refId="B"),
                Target(expr='yunwang:rate_by_level:ratio{rate="$rate"}', legendFormat="{{level}}", refId="C"),
            ],
            unit="percentunit",
            valueMin=0,
            valueMax=1,
            gridPos=GridPos(h=9, w=12, x=0, y=5),
        ),
        BarGauge(
            title="各市排名 / cities ranked: $rate",
            description="市级区划（县、乡镇单位归入所在市；自治区级单位为“自治区本级”）",
            dataSource=DATASOURCE,
            targets=[
                Target(
                    expr='sort(yunwang:rate_by_city:ratio{rate="$rate"} * on (city) group_left (city_name) yunwang_city_info)',
                    legendFormat="{{city_name}}",
                    instant=True,
                    refId="A",
                )
            ],
            format="percentunit",
            min=0,
            max=1,
            calc="lastNotNull",
            displayMode="gradient",
            thresholds=RATE_THRESHOLDS,
            gridPos=GridPos(h=9, w=12, x=12, y=5),
        ),
        Table(
            title="单位排名（最低20） / units ranked, lowest 20: $rate",
            dataSource=DATASOURCE,
            targets=[
                Target(
                    expr='bottomk(20, yunwang_rate_ratio{rate="$rate"} * on (unit) group_left (unit_name) yunwang_unit_info)',
                    format="table",
                    instant=True,
                    refId="A",
                )
            ],
            unit="percentunit",
            gridPos=GridPos(h=10, w=12, x=0, y=14),
        ),
        Table(
            title="不计入分母的对象 / excluded items by reason",
            description="涉密、已退役（僵尸系统）、经认定豁免 / classified, retired, exempt",
            dataSource=DATASOURCE,
            targets=[
                Target(expr="yunwang:rate_excluded_items:sum", format="table", instant=True, refId="A"),
            ],
            gridPos=GridPos(h=10, w=12, x=12, y=14),
        ),
    ]
    return Dashboard(
        title="云网统筹 三个100% / yunwang rates",
        uid="yunwang-rates",
        description="云长制办公室：三个100%、横向接入率、云网统筹利用完成率及目标 (《全面推进广西数字政府建设三年行动实施方案》)",
        tags=["yunwang", "rates"],
        timezone="browser",
        time=Time("now-90d", "now"),
        refresh="5m",
        templating=Templating(list=[datasource_var(), _rate_var()]),
        panels=panels,
    ).auto_panel_ids()


def service_dashboard() -> Dashboard:
    """yunwang service health: request latency by route, recompute duration and data age, scrape status."""
    panels = [
        TimeSeries(
            title="请求延迟 p99 / request latency p99 by route",
            dataSource=DATASOURCE,
            targets=[
                Target(
                    expr="histogram_quantile(0.99, sum by (route, le) (rate(yunwang_http_request_duration_seconds_bucket[5m])))",
                    legendFormat="{{route}}",
                    refId="A",
                )
            ],
            unit="s",
            gridPos=GridPos(h=8, w=12, x=0, y=0),
        ),
        TimeSeries(
            title="指标重算耗时 / rates recompute duration",
            dataSource=DATASOURCE,
            targets=[Target(expr="yunwang_rates_recompute_duration_seconds", legendFormat="{{instance}}", refId="A")],
            unit="s",
            gridPos=GridPos(h=8, w=12, x=12, y=0),
        ),
        Stat(
            title="数据时效 / data age",
            dataSource=DATASOURCE,
            targets=[
                Target(
                    expr="time() - yunwang_rates_last_success_timestamp_seconds", legendFormat="{{instance}}", refId="A"
                )
            ],
            format="s",
            reduceCalc="lastNotNull",
            thresholds=[Threshold("green", 0, 0.0), Threshold("red", 1, 900.0)],
            gridPos=GridPos(h=5, w=6, x=0, y=8),
        ),
        Stat(
            title="抓取状态 / scrape up",
            dataSource=DATASOURCE,
            targets=[Target(expr='up{job="yunwang"}', legendFormat="{{instance}}", refId="A")],
            reduceCalc="lastNotNull",
            thresholds=[Threshold("red", 0, 0.0), Threshold("green", 1, 1.0)],
            gridPos=GridPos(h=5, w=6, x=6, y=8),
        ),
    ]
    return Dashboard(
        title="yunwang 服务状态 / service health",
        uid="yunwang-service",
        tags=["yunwang", "service"],
        timezone="browser",
        time=Time("now-24h", "now"),
        refresh="1m",
        templating=Templating(list=[datasource_var()]),
        panels=panels,
    ).auto_panel_ids()


def render() -> dict[str, str]:
    """File name → JSON text for every dashboard (stable key order, trailing newline)."""
    out = {}
    for name, dash in (("yunwang-rates.json", office_dashboard()), ("yunwang-service.json", service_dashboard())):
        out[name] = to_json(dash)
    return out


def main(out_dir: Path = OUT_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (out_dir / name).write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {out_dir / name}\n")


if __name__ == "__main__":
    main()
