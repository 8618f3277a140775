"""The generated Alertmanager configuration and Grafana provisioning files, and the audience of every shipped alert.

Expected values are written by hand here; `amtool check-config` and the real Prometheus → Alertmanager chain are in
tests/integration/alerting/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from core.enums import Role
from dashboards.alerting import AlertingConfigError, AlertmanagerInputs, Smtp, Timing, alertmanager_config, render
from dashboards.grafana import provision
from orchestrator.app.cli import app

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "dashboards" / "rules"
TOKEN_FILE = Path("/etc/alertmanager/yunwang.token")
SMTP = Smtp(host="127.0.0.1", port=2525, sender="yunwang@example.gov.cn", require_tls=False)

# every shipped alert and who it is for, by hand (dashboards/rules/alerts.rules.yml, extranet.yml, cloud.yml)
AUDIENCE = {
    "YunwangRateBelowTarget": ("cloud_chief_office", "rates"),
    "YunwangUnitRateDropped": ("cloud_chief_office", "rates"),
    "YunwangRatesStale": ("cloud_operator", "service"),
    "YunwangExporterDown": ("cloud_operator", "service"),
    "YunwangExporterAbsent": ("cloud_operator", "service"),
    "ExtranetNodeDown": ("network_admin", "extranet"),
    "ExtranetNodeLossHigh": ("network_admin", "extranet"),
    "ExtranetCountyCoverageLost": ("network_admin", "extranet"),
    "ExtranetProbesStale": ("network_admin", "extranet"),
    "ExtranetVantageStale": ("network_admin", "extranet"),
    "ExtranetVantageUnknownNodes": ("network_admin", "extranet"),
    "CloudProvisionRollbackPending": ("cloud_operator", "cloud"),
    "CloudDriftFound": ("cloud_operator", "cloud"),
    "CloudCapacityHigh": ("cloud_operator", "cloud"),
}


def shipped_alerts() -> dict[str, dict[str, Any]]:
    alerts: dict[str, dict[str, Any]] = {}
    for f in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(f.read_text(encoding="utf-8"))["groups"]:
            alerts |= {r["alert"]: r for r in group["rules"] if "alert" in r}
    return alerts


def test_every_shipped_alert_names_its_audience_and_area() -> None:
    alerts = shipped_alerts()
    assert {name: (r["labels"]["audience"], r["labels"]["area"]) for name, r in alerts.items()} == AUDIENCE


def test_route_tree_sends_each_audience_to_its_receiver() -> None:
    cfg = alertmanager_config(AlertmanagerInputs(yunwang_url="https://yunwang.example.gov.cn/", token_file=TOKEN_FILE))
    route = cfg["route"]
    assert route["receiver"] == "yunwang"
    assert route["group_by"] == ["alertname", "area"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    assert [(r["matchers"], r["receiver"]) for r in route["routes"]] == [
        (['audience="network_admin"'], "network-admins"),
        (['audience="cloud_chief_office"'], "office"),
        (['audience="cloud_operator"'], "operators"),
    ]
    assert [r["name"] for r in cfg["receivers"]] == ["yunwang", "network-admins", "office", "operators"]
    for receiver in cfg["receivers"]:
        assert receiver["webhook_configs"] == [
            {
                "url": "https://yunwang.example.gov.cn/api/v1/notifications/alertmanager",
                "send_resolved": True,
                "http_config": {
                    "authorization": {"type": "Bearer", "credentials_file": "/etc/alertmanager/yunwang.token"}
                },
            }
        ]
        assert "email_configs" not in receiver
    assert cfg["global"] == {"resolve_timeout": "5m"}  # no mail configured: no SMTP settings either


def test_every_audience_of_the_rules_has_a_route_and_inhibit_rules_name_shipped_alerts() -> None:
    cfg = alertmanager_config(AlertmanagerInputs(yunwang_url="http://127.0.0.1:8080", token_file=TOKEN_FILE))
    routed = {r["matchers"][0].split('"')[1] for r in cfg["route"]["routes"]}
    assert {a for a, _ in AUDIENCE.values()} == routed
    alerts = shipped_alerts()
    assert cfg["inhibit_rules"] == [
        {
            "source_matchers": ['alertname="ExtranetNodeDown"'],
            "target_matchers": ['alertname="ExtranetNodeLossHigh"'],
            "equal": ["node"],
        }
    ]
    assert {"ExtranetNodeDown", "ExtranetNodeLossHigh"} <= set(alerts)
    assert "node" in alerts["ExtranetNodeDown"]["annotations"]["summary"]  # both carry the series' node label


def test_mail_goes_only_to_audiences_with_addresses(tmp_path: Path) -> None:
    token_file = tmp_path / "am.token"
    token_file.write_text("yw_secret-token-never-inline")
    inp = AlertmanagerInputs(
        yunwang_url="http://127.0.0.1:8080",
        token_file=token_file,
        emails={Role.NETWORK_ADMIN: ["na1@example.gov.cn", "na2@example.gov.cn"], Role.CLOUD_OPERATOR: []},
        smtp=Smtp(
            host="smtp.example.gov.cn",
            port=587,
            sender="yunwang@example.gov.cn",
            username="yunwang",
            password_file=Path("/etc/alertmanager/smtp.password"),
        ),
        timing=Timing("10s", "1m", "12h"),
    )
    cfg = alertmanager_config(inp)
    assert cfg["global"] == {
        "resolve_timeout": "5m",
        "smtp_smarthost": "smtp.example.gov.cn:587",
        "smtp_from": "yunwang@example.gov.cn",
        "smtp_require_tls": True,
        "smtp_auth_username": "yunwang",
        "smtp_auth_password_file": "/etc/alertmanager/smtp.password",
    }
    mails = {r["name"]: r.get("email_configs") for r in cfg["receivers"]}
    assert mails == {
        "yunwang": None,
        "network-admins": [{"to": "na1@example.gov.cn, na2@example.gov.cn", "send_resolved": True}],
        "office": None,
        "operators": None,
    }
    assert (cfg["route"]["group_wait"], cfg["route"]["repeat_interval"]) == ("10s", "12h")
    text = render(inp)
    assert text.startswith("# Alertmanager configuration for yunwang")
    assert yaml.safe_load(text) == cfg
    assert "yw_secret-token-never-inline" not in text
    assert str(token_file) in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"yunwang_url": "ftp://yunwang"}, "YUNWANG_ALERTING_YUNWANG_URL"),
        ({"yunwang_url": "yunwang.example.gov.cn"}, "YUNWANG_ALERTING_YUNWANG_URL"),
        ({"token_file": Path("yunwang.token")}, "YUNWANG_ALERTING_TOKEN_FILE"),
        ({"emails": {Role.NETWORK_ADMIN: ["na@example.gov.cn"]}}, "YUNWANG_SMTP_HOST"),
        ({"emails": {Role.NETWORK_ADMIN: ["not-an-address"]}, "smtp": SMTP}, "not-an-address"),
        ({"emails": {Role.NETWORK_ADMIN: ["a@x.cn,b@y.cn"]}, "smtp": SMTP}, "a@x.cn,b@y.cn"),
        ({"emails": {Role.AUDITOR: ["au@example.gov.cn"]}, "smtp": SMTP}, "auditor"),
        (
            {
                "emails": {Role.CLOUD_OPERATOR: ["op@example.gov.cn"]},
                "smtp": Smtp(host="h", port=25, sender="s@example.gov.cn", username="u"),
            },
            "YUNWANG_ALERTING_SMTP_PASSWORD_FILE",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(change: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"yunwang_url": "http://127.0.0.1:8080", "token_file": TOKEN_FILE}
    with pytest.raises(AlertingConfigError, match=message):
        alertmanager_config(AlertmanagerInputs(**(base | change)))


def test_cli_writes_the_configuration_from_settings(tmp_path: Path) -> None:
    out = tmp_path / "alertmanager.yml"
    env = {
        "YUNWANG_ALERTING_YUNWANG_URL": "http://10.0.0.5:8080",
        "YUNWANG_ALERTING_TOKEN_FILE": "/run/secrets/yunwang-am.token",
        "YUNWANG_ALERTING_EMAIL_CLOUD_CHIEF_OFFICE": '["office@example.gov.cn"]',
        "YUNWANG_SMTP_HOST": "mail.example.gov.cn",
        "YUNWANG_SMTP_PORT": "25",
        "YUNWANG_SMTP_FROM": "yunwang@example.gov.cn",
        "YUNWANG_SMTP_STARTTLS": "false",
    }
    r = CliRunner().invoke(app, ["alerting", "alertmanager-config", "--out", str(out), "--group-wait", "5s"], env=env)
    assert r.exit_code == 0, r.output
    cfg = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert cfg["receivers"][0]["webhook_configs"][0]["url"] == "http://10.0.0.5:8080/api/v1/notifications/alertmanager"
    auth = cfg["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"]
    assert auth == {"type": "Bearer", "credentials_file": "/run/secrets/yunwang-am.token"}
    assert cfg["receivers"][2] == {
        "name": "office",
        "webhook_configs": cfg["receivers"][0]["webhook_configs"],
        "email_configs": [{"to": "office@example.gov.cn", "send_resolved": True}],
    }
    assert cfg["global"]["smtp_smarthost"] == "mail.example.gov.cn:25"
    assert cfg["global"]["smtp_require_tls"] is False
    assert cfg["route"]["group_wait"] == "5s"


def test_cli_refuses_bad_settings_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "alertmanager.yml"
    env = {"YUNWANG_ALERTING_EMAIL_NETWORK_ADMIN": '["na@example.gov.cn"]', "YUNWANG_SMTP_HOST": ""}
    r = CliRunner().invoke(app, ["alerting", "alertmanager-config", "--out", str(out)], env=env)
    assert r.exit_code == 2
    assert "YUNWANG_SMTP_HOST" in r.output
    assert not out.exists()


def test_grafana_provisioning_examples_are_what_the_generator_makes() -> None:
    for rel, text in provision.render().items():
        assert (provision.EXAMPLE_DIR / rel).read_text(encoding="utf-8") == text, (
            f"{rel} is stale: run python -m dashboards.grafana.provision"
        )


def test_grafana_provisioning_cli_points_at_prometheus_and_the_shipped_json(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["alerting", "grafana-provisioning", "--out", str(tmp_path), "--prometheus-url", "http://prom:9090"]
    )
    assert r.exit_code == 0, r.output
    ds = yaml.safe_load((tmp_path / "datasources" / "yunwang.yml").read_text(encoding="utf-8"))
    assert ds["apiVersion"] == 1
    assert ds["datasources"] == [
        {
            "name": "Prometheus",
            "type": "prometheus",
            "uid": "prometheus",
            "access": "proxy",
            "url": "http://prom:9090",
            "isDefault": True,
            "jsonData": {"timeInterval": "60s"},
        }
    ]
    dp = yaml.safe_load((tmp_path / "dashboards" / "yunwang.yml").read_text(encoding="utf-8"))
    assert dp["apiVersion"] == 1
    [provider] = dp["providers"]
    assert (provider["type"], provider["folder"], provider["orgId"]) == ("file", "云网 yunwang", 1)
    path = Path(provider["options"]["path"])
    assert path == ROOT / "dashboards" / "grafana" / "json"
    assert sorted(p.name for p in path.glob("*.json")) == [
        "yunwang-extranet.json",
        "yunwang-rates.json",
        "yunwang-service.json",
    ]


def test_grafana_provisioning_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    for args, message in (
        (["--prometheus-url", "prometheus:9090"], "--prometheus-url"),
        (["--dashboards-path", "relative/json"], "--dashboards-path"),
    ):
        out = tmp_path / "out"
        r = CliRunner().invoke(app, ["alerting", "grafana-provisioning", "--out", str(out), *args])
        assert r.exit_code == 2
        assert message in r.output
        assert not out.exists()


def test_cli_without_out_prints_the_configuration() -> None:
    r = CliRunner().invoke(app, ["alerting", "alertmanager-config"], env={"YUNWANG_ALERTING_YUNWANG_URL": "http://a:1"})
    assert r.exit_code == 0, r.output
    cfg = yaml.safe_load(r.output)
    assert [r["name"] for r in cfg["receivers"]] == ["yunwang", "network-admins", "office", "operators"]
    assert cfg["receivers"][1]["webhook_configs"][0]["url"] == "http://a:1/api/v1/notifications/alertmanager"
