"""The generated Alertmanager configuration passes the real `amtool check-config`, and amtool's own router sends
each audience to the receiver written here by hand."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.app.cli import app

pytestmark = pytest.mark.integration


def generate(out: Path, env: dict[str, str]) -> None:
    r = CliRunner().invoke(app, ["alerting", "alertmanager-config", "--out", str(out)], env=env)
    assert r.exit_code == 0, r.output


def amtool_run(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60)


WITH_MAIL = {
    "YUNWANG_ALERTING_YUNWANG_URL": "https://yunwang.example.gov.cn",
    "YUNWANG_ALERTING_TOKEN_FILE": "/etc/alertmanager/yunwang.token",
    "YUNWANG_ALERTING_EMAIL_NETWORK_ADMIN": '["na1@example.gov.cn","na2@example.gov.cn"]',
    "YUNWANG_ALERTING_EMAIL_CLOUD_CHIEF_OFFICE": '["office@example.gov.cn"]',
    "YUNWANG_ALERTING_EMAIL_CLOUD_OPERATOR": '["ops@example.gov.cn"]',
    "YUNWANG_ALERTING_SMTP_PASSWORD_FILE": "/etc/alertmanager/smtp.password",
    "YUNWANG_SMTP_HOST": "smtp.example.gov.cn",
    "YUNWANG_SMTP_PORT": "587",
    "YUNWANG_SMTP_FROM": "yunwang@example.gov.cn",
    "YUNWANG_SMTP_USER": "yunwang",
}


@pytest.mark.parametrize("env", [{}, WITH_MAIL], ids=["webhook-only", "webhook-and-mail"])
def test_generated_config_passes_amtool_check_config(amtool: str, tmp_path: Path, env: dict[str, str]) -> None:
    cfg = tmp_path / "alertmanager.yml"
    generate(cfg, env)
    r = amtool_run(amtool, "check-config", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout
    assert " - 1 inhibit rules" in r.stdout
    assert " - 4 receivers" in r.stdout


def test_a_broken_config_is_caught_by_amtool(amtool: str, tmp_path: Path) -> None:
    cfg = tmp_path / "alertmanager.yml"
    generate(cfg, {})
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("receiver: office", "receiver: nobody"), encoding="utf-8")
    r = amtool_run(amtool, "check-config", str(cfg))
    assert r.returncode != 0
    assert "nobody" in r.stdout + r.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=ExtranetNodeDown", "area=extranet", "audience=network_admin"], "network-admins"),
        (["alertname=YunwangRateBelowTarget", "area=rates", "audience=cloud_chief_office"], "office"),
        (["alertname=YunwangExporterDown", "area=service", "audience=cloud_operator"], "operators"),
        (["alertname=SomethingElse"], "yunwang"),
        (["alertname=SomethingElse", "audience=auditor"], "yunwang"),
    ],
)
def test_amtool_routes_each_audience_to_its_receiver(
    amtool: str, tmp_path: Path, labels: list[str], receiver: str
) -> None:
    cfg = tmp_path / "alertmanager.yml"
    generate(cfg, WITH_MAIL)
    r = amtool_run(
        amtool, "config", "routes", "test", f"--config.file={cfg}", f"--verify.receivers={receiver}", *labels
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == receiver
