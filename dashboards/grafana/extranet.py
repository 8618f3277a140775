"""Grafana dashboard for the extranet network admins (外网管理员), generated with grafanalib.

Regenerate with `python -m dashboards.grafana.extranet` (writes json/yunwang-extranet.json). Queries read the
collectors' series (yunwang_node_*, yunwang_extranet_*, yunwang_vantage_*) and the rules in dashboards/rules/extranet.yml.
"""

from __future__ import annotations

import json
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

OUT = Path(__file__).parent / "json" / "yunwang-extranet.json"
LEVELS = (("region", "自治区"), ("city", "市"), ("county", "县"), ("township", "乡镇"))
COVERAGE_THRESHOLDS = [Threshold("red", 0, 0.0), Threshold("orange", 1, 0.9), Threshold("green", 2, 1.0)]


def _vars() -> list[Template]:
    return [
        datasource_var(),
        Template(
            name="city",
            label="市 / city",
            query="label_values(yunwang_node_up, city)",
            dataSource=DATASOURCE,
            includeAll=True,
            multi=True,
            default="$__all",
            refresh=2,
        ),
    ]


def extranet_dashboard() -> Dashboard:
    sel = 'city=~"$city"'
    panels = [
        Stat(
            title=f"{zh}覆盖 / {lv} coverage",
            dataSource=DATASOURCE,
            targets=[Target(expr=f'yunwang_extranet_coverage_ratio{{level="{lv}",city=""}}', refId="A")],
            format="percentunit",
            thresholds=COVERAGE_THRESHOLDS,
            gridPos=GridPos(h=5, w=4, x=4 * i, y=0),
        )
        for i, (lv, zh) in enumerate(LEVELS)
    ]
    panels += [
        Stat(
            title="横向接入率(实时) / horizontal access (live)",
            dataSource=DATASOURCE,
            targets=[Target(expr='yunwang_extranet_horizontal_access_live_ratio{level="all"}', refId="A")],
            format="percentunit",
            thresholds=COVERAGE_THRESHOLDS,
            gridPos=GridPos(h=5, w=4, x=16, y=0),
        ),
        Stat(
            title="不可达节点 / nodes down",
            dataSource=DATASOURCE,
            targets=[Target(expr=f"count(yunwang_node_up{{{sel}}} == 0) or vector(0)", refId="A")],
            thresholds=[Threshold("green", 0, 0.0), Threshold("red", 1, 1.0)],
            gridPos=GridPos(h=5, w=4, x=20, y=0),
        ),
        Table(
            title="不可达与降级节点 / nodes down or degraded",
            dataSource=DATASOURCE,
            targets=[
                Target(
                    expr=f'yunwang_node_state{{state=~"down|degraded",{sel}}} == 1',
                    format="table",
                    instant=True,
                    refId="A",
                )
            ],
            gridPos=GridPos(h=10, w=12, x=0, y=5),
        ),
        BarGauge(
            title="县级覆盖(按市) / county coverage by city",
            dataSource=DATASOURCE,
            targets=[
                Target(
                    expr=f'yunwang_extranet_coverage_ratio{{level="county",{sel}}}',
                    legendFormat="{{city}}",
                    instant=True,
                    refId="A",
                )
            ],
            format="percentunit",
            min=0,
            max=1,
            thresholds=COVERAGE_THRESHOLDS,
            orientation="horizontal",
            gridPos=GridPos(h=10, w=12, x=12, y=5),
        ),
        TimeSeries(
            title="往返时延 / RTT (top 10)",
            dataSource=DATASOURCE,
            targets=[Target(expr=f"topk(10, yunwang_node_rtt_seconds{{{sel}}})", legendFormat="{{node}}", refId="A")],
            unit="s",
            gridPos=GridPos(h=9, w=12, x=0, y=15),
        ),
        TimeSeries(
            title="丢包率 / packet loss (top 10)",
            dataSource=DATASOURCE,
            targets=[Target(expr=f"topk(10, yunwang_node_loss_ratio{{{sel}}})", legendFormat="{{node}}", refId="A")],
            unit="percentunit",
            gridPos=GridPos(h=9, w=12, x=12, y=15),
        ),
        TimeSeries(
            title="各级在线比例 / nodes up by level",
            dataSource=DATASOURCE,
            targets=[Target(expr="yunwang:extranet_nodes_up:ratio_by_level", legendFormat="{{level}}", refId="A")],
            unit="percentunit",
            gridPos=GridPos(h=8, w=12, x=0, y=24),
        ),
        TimeSeries(
            title="探测耗时 / probe sweep duration",
            dataSource=DATASOURCE,
            targets=[Target(expr="yunwang_probe_sweep_duration_seconds", legendFormat="{{kind}}", refId="A")],
            unit="s",
            gridPos=GridPos(h=8, w=12, x=12, y=24),
        ),
        TimeSeries(
            title="各探测点覆盖 / nodes probed per vantage (last interval)",
            dataSource=DATASOURCE,
            targets=[Target(expr="yunwang:vantage_coverage:ratio", legendFormat="{{vantage}}", refId="A")],
            unit="percentunit",
            gridPos=GridPos(h=8, w=12, x=0, y=32),
        ),
        BarGauge(
            title="各探测点最近结果 / age of each vantage's newest result",
            dataSource=DATASOURCE,
            targets=[
                Target(
                    expr="time() - yunwang_vantage_last_result_timestamp_seconds",
                    legendFormat="{{vantage}}",
                    instant=True,
                    refId="A",
                )
            ],
            format="s",
            min=0,
            thresholds=[Threshold("green", 0, 0.0), Threshold("orange", 1, 120.0), Threshold("red", 2, 180.0)],
            orientation="horizontal",
            gridPos=GridPos(h=8, w=12, x=12, y=32),
        ),
    ]
    return Dashboard(
        title="yunwang 电子政务外网 / extranet",
        uid="yunwang-extranet",
        tags=["yunwang", "extranet"],
        timezone="browser",
        time=Time("now-6h", "now"),
        refresh="1m",
        templating=Templating(list=_vars()),
        panels=panels,
    ).auto_panel_ids()


def render() -> str:
    return to_json(extranet_dashboard())


def queries() -> list[str]:
    """Every PromQL expression on the dashboard (for checks)."""
    return [t["expr"] for p in json.loads(render())["panels"] for t in p.get("targets", [])]


def main(out: Path = OUT) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {out}\n")


if __name__ == "__main__":
    main()
