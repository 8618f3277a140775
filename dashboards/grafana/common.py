"""What every generated dashboard shares: the datasource variable and stable JSON rendering."""

from __future__ import annotations

import json

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, Template

DATASOURCE = "${datasource}"


def datasource_var() -> Template:
    """The Prometheus datasource picker every panel's `dataSource` refers to."""
    return Template(
        name="datasource", label="数据源 / datasource", query="prometheus", type="datasource", default="Prometheus"
    )


def to_json(dash: Dashboard) -> str:
    """Dashboard JSON with stable key order and a trailing newline, so regenerating changes nothing."""
    data = json.loads(json.dumps(dash.to_json_data(), cls=DashboardEncoder))
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
