"""The channels: e-mail over SMTP (smtplib) and webhooks over HTTP (httpx) in three formats.

Webhook bodies (UTF-8 JSON, compact):
- `json`: `{"event_type", "event_id", "dedup_key", "at", "title", "text", "payload"}`;
- `wecom` (企业微信群机器人): `{"msgtype":"markdown","markdown":{"content":"## <title>\\n\\n<text>"}}`;
- `dingtalk` (钉钉群机器人): `{"msgtype":"markdown","markdown":{"title":"<title>","text":"## <title>\\n\\n<text>"}}`,
  with `&timestamp=<ms>&sign=<base64 HMAC-SHA256 of "<ms>\\n<secret>">` added to the URL when a secret is set.
Robots answer HTTP 200 with `errcode` ≠ 0 on errors: that is a failure too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx

from core.notifications.models import WebhookFormat
from core.redaction import redact

RATE_LIMIT_CODES = frozenset({45009, 130101})  # WeCom / DingTalk "too many messages": try again later


@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes out (YUNWANG_SMTP_*); no host: e-mail deliveries fail with that reason."""

    host: str | None = None
    port: int = 25
    sender: str = "yunwang@localhost"
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Message:
    """One rendered event: the title (中文 / English) and the body (Chinese line first)."""

    event_id: int
    event_type: str
    dedup_key: str
    at: str
    title: str
    text: str
    payload: Mapping[str, Any]


class DeliveryError(Exception):
    """A failed send; `transient` ones are retried at once (tenacity), the rest at the next run."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryError) and exc.transient


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_body(fmt: WebhookFormat, msg: Message) -> bytes:
    """The exact bytes posted for one message in one format."""
    markdown = f"## {msg.title}\n\n{msg.text}"
    if fmt == WebhookFormat.WECOM:
        return _json_bytes({"msgtype": "markdown", "markdown": {"content": markdown}})
    if fmt == WebhookFormat.DINGTALK:
        return _json_bytes({"msgtype": "markdown", "markdown": {"title": msg.title, "text": markdown}})
    return _json_bytes(
        {
            "event_type": msg.event_type,
            "event_id": msg.event_id,
            "dedup_key": msg.dedup_key,
            "at": msg.at,
            "title": msg.title,
            "text": msg.text,
            "payload": dict(msg.payload),
        }
    )


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(key=secret, msg="<timestamp>\\n<secret>"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    query = urllib.parse.urlencode({"timestamp": timestamp_ms, "sign": dingtalk_sign(secret, timestamp_ms)})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def safe_url(url: str) -> str:
    """A webhook URL without its query (robot URLs carry their key there): what responses and errors show."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + ("?…" if parts.query else "")


def _scrub(text: str, *secrets: str | None) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return redact(text)[:500]


def send_webhook(client: httpx.Client, url: str, fmt: WebhookFormat, msg: Message, secret: str | None = None) -> None:
    """POST one message; raise DeliveryError (transient for timeouts, resets, 429 and 5xx)."""
    target = signed_url(url, secret, int(time.time() * 1000)) if fmt == WebhookFormat.DINGTALK and secret else url
    where = safe_url(url)
    try:
        r = client.post(target, content=webhook_body(fmt, msg), headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise DeliveryError(_scrub(f"{where}: {type(exc).__name__}", url, secret), transient=True) from None
    if r.status_code == 429 or r.status_code >= 500:
        raise DeliveryError(f"{where}: HTTP {r.status_code}", transient=True)
    if r.status_code >= 300:
        raise DeliveryError(f"{where}: HTTP {r.status_code}", transient=False)
    if fmt in (WebhookFormat.WECOM, WebhookFormat.DINGTALK):
        try:
            answer = r.json()
        except ValueError:
            answer = {}
        code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
        if code:
            text = _scrub(str(answer.get("errmsg", "")), url, secret)
            raise DeliveryError(f"{where}: errcode {code} {text}".strip(), transient=code in RATE_LIMIT_CODES)


def email_message(sender: str, to: str, msg: Message) -> EmailMessage:
    m = EmailMessage()
    m["Subject"] = f"[云网 yunwang] {msg.title}"
    m["From"] = sender
    m["To"] = to
    m["Date"] = formatdate(localtime=False)
    m["Message-ID"] = make_msgid(domain="yunwang")
    m.set_content(f"{msg.text}\n\n事件 / event: {msg.event_type} #{msg.event_id} · {msg.at}\n", charset="utf-8")
    return m


def send_email(cfg: SmtpConfig, to: str, msg: Message) -> None:
    """Send one message; raise DeliveryError (transient: connection problems and 4xx replies)."""
    if not cfg.host:
        raise DeliveryError("SMTP 未配置 / SMTP is not configured (YUNWANG_SMTP_HOST)", transient=False)
    try:
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.user and cfg.password:
                smtp.login(cfg.user, cfg.password)
            smtp.send_message(email_message(cfg.sender, to, msg))
    except smtplib.SMTPResponseException as exc:
        error = _scrub(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", cfg.password)
        raise DeliveryError(error, transient=400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError(f"SMTP: recipient refused ({to})", transient=False) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(_scrub(f"SMTP {cfg.host}:{cfg.port}: {type(exc).__name__}", cfg.password), True) from None
