"""The Alertmanager configuration that makes yunwang's Prometheus alerts reach people.

Every shipped alert rule (dashboards/rules/*.yml) carries an `audience` label naming the role it is for and an
`area` label (extranet, rates, service). The route tree sends each audience to its receiver: yunwang's own webhook
(`POST /api/v1/notifications/alertmanager`, which fans the alert out to that role's subscribers) and, when
addresses are configured, e-mail. The bearer token for the webhook is read from a file by Alertmanager
(`credentials_file`); it never appears in the generated configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from core.enums import Role

WEBHOOK_PATH = "/api/v1/notifications/alertmanager"
DEFAULT_RECEIVER = "yunwang"
# audience label value (a role) → receiver name
RECEIVERS: dict[Role, str] = {
    Role.NETWORK_ADMIN: "network-admins",
    Role.CLOUD_CHIEF_OFFICE: "office",
    Role.CLOUD_OPERATOR: "operators",
}
GROUP_BY = ("alertname", "area")
# An extranet node that is down also stops answering echo requests: its loss alert says nothing new.
INHIBIT_RULES: tuple[dict[str, Any], ...] = (
    {
        "source_matchers": ['alertname="ExtranetNodeDown"'],
        "target_matchers": ['alertname="ExtranetNodeLossHigh"'],
        "equal": ["node"],
    },
)


class AlertingConfigError(ValueError):
    """The settings cannot make a valid Alertmanager configuration (the message says which setting)."""


@dataclass(frozen=True)
class Smtp:
    """Where Alertmanager sends mail (`smtp_*` of its global section)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password_file: Path | None = None
    require_tls: bool = True


@dataclass(frozen=True)
class Timing:
    """How long Alertmanager waits before the first notification of a group, between updates and repeats."""

    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"


@dataclass(frozen=True)
class AlertmanagerInputs:
    yunwang_url: str
    token_file: Path
    emails: Mapping[Role, Sequence[str]] = field(default_factory=dict)
    smtp: Smtp | None = None
    timing: Timing = field(default_factory=Timing)


def _check(inp: AlertmanagerInputs) -> None:
    url = urlsplit(inp.yunwang_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise AlertingConfigError(
            f"YUNWANG_ALERTING_YUNWANG_URL must be an http(s) URL, got {inp.yunwang_url!r} / 须为 http(s) 地址"
        )
    if not inp.token_file.is_absolute():
        raise AlertingConfigError(
            f"YUNWANG_ALERTING_TOKEN_FILE must be an absolute path, got {str(inp.token_file)!r} / 须为绝对路径"
        )
    unknown = set(inp.emails) - set(RECEIVERS)
    if unknown:
        raise AlertingConfigError(f"no alert audience {sorted(unknown)} / 无此告警对象")
    for role, addresses in inp.emails.items():
        for a in addresses:
            if a.count("@") != 1 or "," in a or not a.split("@")[0] or "." not in a.split("@")[1]:
                raise AlertingConfigError(f"not an e-mail address for {role.value}: {a!r} / 邮箱地址无效")
    if any(inp.emails.values()):
        if inp.smtp is None:
            raise AlertingConfigError("e-mail receivers need YUNWANG_SMTP_HOST / 需配置 SMTP 服务器")
        if inp.smtp.username and inp.smtp.password_file is None:
            raise AlertingConfigError(
                "YUNWANG_SMTP_USER needs YUNWANG_ALERTING_SMTP_PASSWORD_FILE / 需配置 SMTP 密码文件"
            )


def _webhook(inp: AlertmanagerInputs) -> dict[str, Any]:
    return {
        "url": inp.yunwang_url.rstrip("/") + WEBHOOK_PATH,
        "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(inp.token_file)}},
    }


def _receiver(name: str, inp: AlertmanagerInputs, addresses: Sequence[str]) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": name, "webhook_configs": [_webhook(inp)]}
    if addresses:
        receiver["email_configs"] = [{"to": ", ".join(addresses), "send_resolved": True}]
    return receiver


def _global(smtp: Smtp | None) -> dict[str, Any]:
    out: dict[str, Any] = {"resolve_timeout": "5m"}
    if smtp is not None:
        out |= {
            "smtp_smarthost": f"{smtp.host}:{smtp.port}",
            "smtp_from": smtp.sender,
            "smtp_require_tls": smtp.require_tls,
        }
        if smtp.username:
            out["smtp_auth_username"] = smtp.username
            out["smtp_auth_password_file"] = str(smtp.password_file)
    return out


def alertmanager_config(inp: AlertmanagerInputs) -> dict[str, Any]:
    """Alertmanager's configuration as a dict; AlertingConfigError when the settings cannot make one."""
    _check(inp)
    t = inp.timing
    routes = [{"matchers": [f'audience="{role.value}"'], "receiver": name} for role, name in RECEIVERS.items()]
    receivers = [_receiver(DEFAULT_RECEIVER, inp, ())]
    receivers += [_receiver(name, inp, inp.emails.get(role, ())) for role, name in RECEIVERS.items()]
    return {
        "global": _global(inp.smtp if any(inp.emails.values()) else None),
        "route": {
            "receiver": DEFAULT_RECEIVER,
            "group_by": list(GROUP_BY),
            "group_wait": t.group_wait,
            "group_interval": t.group_interval,
            "repeat_interval": t.repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [dict(r) for r in INHIBIT_RULES],
        "receivers": receivers,
    }


HEADER = """\
# Alertmanager configuration for yunwang, generated by `yunwang alerting alertmanager-config`; regenerate, do not edit.
# 由 `yunwang alerting alertmanager-config` 生成：按告警的 audience 标签（角色）路由到云网的通知接口与邮件。
# Check with: amtool check-config <this file>
"""


def render(inp: AlertmanagerInputs) -> str:
    """The configuration file's text (YAML, stable key order)."""
    body = yaml.safe_dump(alertmanager_config(inp), allow_unicode=True, sort_keys=False, width=120)
    return HEADER + body
