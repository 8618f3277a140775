"""`yunwang alerting …`: generate the Alertmanager configuration and the Grafana provisioning files from settings.
Answers are messages with an exit code, never tracebacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from core.enums import Role
from dashboards.alerting import AlertingConfigError, AlertmanagerInputs, Smtp, Timing, render
from dashboards.grafana import provision as provisioning
from orchestrator.app.settings import Settings

console = Console(stderr=True)


def inputs(s: Settings, timing: Timing) -> AlertmanagerInputs:
    """The generator's inputs from the settings (SMTP only when its host is set)."""
    smtp = None
    if s.smtp_host:
        smtp = Smtp(
            host=s.smtp_host,
            port=s.smtp_port,
            sender=s.smtp_from,
            username=s.smtp_user,
            password_file=s.alerting_smtp_password_file,
            require_tls=s.smtp_starttls,
        )
    emails = {
        Role.NETWORK_ADMIN: s.alerting_email_network_admin,
        Role.CLOUD_CHIEF_OFFICE: s.alerting_email_cloud_chief_office,
        Role.CLOUD_OPERATOR: s.alerting_email_cloud_operator,
    }
    return AlertmanagerInputs(
        yunwang_url=s.alerting_yunwang_url, token_file=s.alerting_token_file, emails=emails, smtp=smtp, timing=timing
    )


def make_app(settings: Callable[[], Settings]) -> typer.Typer:
    app = typer.Typer(help="Alerting: Alertmanager and Grafana files / 告警与监控配置", no_args_is_help=True)

    @app.command("alertmanager-config")
    def alertmanager_config(
        out: Path | None = typer.Option(None, "--out", help="write here (default: standard output)"),
        group_wait: str = typer.Option("30s", help="first notification of a group after / 首次通知等待"),
        group_interval: str = typer.Option("5m", help="updates of a group every / 分组更新间隔"),
        repeat_interval: str = typer.Option("4h", help="repeat a still-firing alert every / 重复提醒间隔"),
    ) -> None:
        """Alertmanager configuration routing alerts by audience / 生成 Alertmanager 配置（按 audience 路由）."""
        try:
            text = render(inputs(settings(), Timing(group_wait, group_interval, repeat_interval)))
        except AlertingConfigError as e:
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(2) from None
        if out is None:
            typer.echo(text, nl=False)
            return
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out} (check: amtool check-config {out})")

    @app.command("grafana-provisioning")
    def grafana_provisioning(
        out: Path = typer.Option(..., "--out", help="directory to write datasources/ and dashboards/ into"),
        prometheus_url: str = typer.Option("http://127.0.0.1:9090", help="the Prometheus Grafana queries"),
        dashboards_path: Path = typer.Option(
            provisioning.SHIPPED_JSON, help="where Grafana reads the dashboard JSON (default: the shipped files)"
        ),
    ) -> None:
        """Grafana datasource and dashboard provider files / 生成 Grafana 数据源与仪表盘配置."""
        try:
            written = provisioning.write(out, prometheus_url=prometheus_url, dashboards_path=dashboards_path)
        except provisioning.ProvisioningError as e:
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(2) from None
        for path in written:
            console.print(f"wrote {path}")

    return app
