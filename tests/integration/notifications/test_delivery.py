"""Deliveries to real receivers on 127.0.0.1: e-mail to a real SMTP server, the three webhook formats to a real
HTTP server, retries with tenacity, giving up, and two dispatchers racing on one outbox (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db import Database
from core.enums import Role
from core.notifications import outbox
from core.notifications.channels import SmtpConfig
from core.notifications.dispatch import DeliveryPolicy, Dispatcher
from core.notifications.models import (
    Channel,
    DeliveryStatus,
    EventType,
    NotificationDelivery,
    NotificationSubscription,
    WebhookFormat,
)
from core.notifications.outbox import Audience, emit
from core.retry import RetryPolicy
from tests.integration.notifications.conftest import Mailbox, Receiver

pytestmark = pytest.mark.integration
FAST = DeliveryPolicy(retry=RetryPolicy(attempts=3, initial_s=0.01, max_s=0.02), max_attempts=2, backoff_s=0.0)
NET = Audience(roles=frozenset({Role.NETWORK_ADMIN}))
DOWN = {"code": "N-450100", "name": "南宁市节点", "old": "up", "at": "2026-12-01T09:00:00+08:00"}
TITLE = "外网节点中断：N-450100 南宁市节点 / extranet node down: N-450100 南宁市节点"
TEXT = (
    "节点 N-450100（南宁市节点）于 2026-12-01T09:00:00+08:00 由 up 变为 down。\n"
    "Node N-450100 (南宁市节点) went from up to down at 2026-12-01T09:00:00+08:00."
)


def subscribe(
    db: Database, channel: Channel, address: str, fmt: WebhookFormat | None = None, secret: str | None = None
) -> int:
    with db.session() as s:
        sub = NotificationSubscription(
            role=Role.NETWORK_ADMIN,
            event_types=["node_down"],
            channel=channel,
            address=address,
            webhook_format=fmt,
            secret=secret,
            enabled=True,
            created_by="admin",
        )
        s.add(sub)
        s.flush()
        return sub.id


def node_down(db: Database, key: str = "node_down:1:t") -> None:
    with db.session() as s:
        assert emit(s, EventType.NODE_DOWN, NET, DOWN, key) is not None


def statuses(db: Database) -> list[tuple[DeliveryStatus, int, str | None]]:
    with db.read_session() as s:
        rows = s.execute(
            select(
                NotificationDelivery.status, NotificationDelivery.attempts, NotificationDelivery.last_error
            ).order_by(NotificationDelivery.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_email_reaches_a_real_smtp_server_chinese_first(db: Database, smtp: tuple[int, Mailbox]) -> None:
    port, box = smtp
    subscribe(db, Channel.EMAIL, "noc@example.org")
    node_down(db)
    outcome = Dispatcher(db, SmtpConfig("127.0.0.1", port, "yunwang@example.org"), FAST).run()
    assert (outcome.targets, outcome.failures) == (1, 0)
    assert len(box.messages) == 1
    mail_from, rcpt, content = box.messages[0]
    assert (mail_from, rcpt) == ("yunwang@example.org", ["noc@example.org"])
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert msg["Subject"] == f"[云网 yunwang] {TITLE}"
    assert msg["To"] == "noc@example.org"
    body = msg.get_body().get_content()  # type: ignore[union-attr]
    assert body.startswith(TEXT + "\n")
    assert statuses(db) == [(DeliveryStatus.SENT, 1, None)]


def test_three_webhook_formats_reach_a_real_http_receiver_exactly(db: Database, receiver: Receiver) -> None:
    subscribe(db, Channel.WEBHOOK, receiver.url + "/json", WebhookFormat.JSON)
    subscribe(db, Channel.WEBHOOK, receiver.url + "/cgi-bin/webhook/send?key=K1", WebhookFormat.WECOM)
    subscribe(db, Channel.WEBHOOK, receiver.url + "/robot/send?access_token=T1", WebhookFormat.DINGTALK, "SECabc")
    node_down(db)
    assert Dispatcher(db, SmtpConfig(), FAST).run().failures == 0
    got = {r.path.split("?")[0]: r for r in receiver.requests}
    assert len(receiver.requests) == 3 and set(got) == {"/json", "/cgi-bin/webhook/send", "/robot/send"}
    markdown = f"## {TITLE}\n\n{TEXT}"
    wecom = {"msgtype": "markdown", "markdown": {"content": markdown}}
    ding = {"msgtype": "markdown", "markdown": {"title": TITLE, "text": markdown}}
    compact = {"ensure_ascii": False, "separators": (",", ":")}
    assert got["/cgi-bin/webhook/send"].body == json.dumps(wecom, **compact).encode()  # type: ignore[arg-type]
    assert got["/robot/send"].body == json.dumps(ding, **compact).encode()  # type: ignore[arg-type]
    generic = json.loads(got["/json"].body)
    assert (generic["event_type"], generic["title"], generic["text"], generic["payload"]) == (
        "node_down",
        TITLE,
        TEXT,
        DOWN,
    )
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(got["/robot/send"].path).query)
    assert query["access_token"] == ["T1"]
    ts = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(b"SECabc", f"{ts}\nSECabc".encode(), hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(got["/cgi-bin/webhook/send"].path).query) == {"key": ["K1"]}


def test_a_receiver_failing_twice_then_answering_gets_the_message_once(db: Database) -> None:
    flaky = Receiver(statuses=[500, 503])
    try:
        subscribe(db, Channel.WEBHOOK, flaky.url + "/hook", WebhookFormat.JSON)
        node_down(db)
        d = Dispatcher(db, SmtpConfig(), FAST)
        assert d.run().failures == 0
        assert d.run().targets == 0  # nothing left to send
        assert len(flaky.requests) == 3  # 500, 503, 200: one delivery
        assert statuses(db) == [(DeliveryStatus.SENT, 1, None)]
    finally:
        flaky.close()


def test_a_receiver_that_keeps_failing_is_given_up_with_the_error_and_no_key(db: Database) -> None:
    down = Receiver(statuses=[500] * 10)
    try:
        subscribe(db, Channel.WEBHOOK, down.url + "/hook?key=ROBOTKEY", WebhookFormat.WECOM)
        node_down(db)
        d = Dispatcher(db, SmtpConfig(), FAST)
        assert d.run().failures == 1  # attempt 1: 3 tries, back to pending (back-off 0 s)
        assert statuses(db)[0][:2] == (DeliveryStatus.PENDING, 1)
        assert d.run().failures == 1  # attempt 2 = max_attempts: failed
        assert d.run().targets == 0  # given up: never tried again
        assert len(down.requests) == 6  # 2 attempts × 3 tries
        status, attempts, error = statuses(db)[0]
        assert (status, attempts) == (DeliveryStatus.FAILED, 2)
        assert error is not None and "HTTP 500" in error and "ROBOTKEY" not in error
    finally:
        down.close()


def test_two_dispatchers_racing_send_each_delivery_once(any_db: Database, receiver: Receiver) -> None:
    subscribe(any_db, Channel.WEBHOOK, receiver.url + "/a", WebhookFormat.JSON)
    subscribe(any_db, Channel.WEBHOOK, receiver.url + "/b", WebhookFormat.JSON)
    for i in range(15):
        node_down(any_db, f"node_down:{i}:t")  # 15 events × 2 subscriptions = 30 deliveries
    other = Database(any_db.url)  # a second engine, as in a second process
    policy = DeliveryPolicy(retry=FAST.retry, batch=4)
    dispatchers = [Dispatcher(any_db, SmtpConfig(), policy), Dispatcher(other, SmtpConfig(), policy)]
    start = threading.Barrier(2)
    outcomes: list[int] = []

    def go(d: Dispatcher) -> None:
        start.wait()
        outcomes.append(d.run().targets)

    threads = [threading.Thread(target=go, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    sent = [(r.path, json.loads(r.body)["event_id"]) for r in receiver.requests]
    assert len(sent) == 30 and len(set(sent)) == 30  # each (subscription, event) exactly once
    assert sum(outcomes) == 30
    assert {s for s, _, _ in statuses(any_db)} == {DeliveryStatus.SENT}


def test_send_test_through_the_api_delivers_now_and_reports(
    client: TestClient, token_for: Callable[..., str], receiver: Receiver
) -> None:
    body = {
        "event_types": ["node_down"],
        "channel": "webhook",
        "address": receiver.url + "/mine",
        "webhook_format": "wecom",
    }
    # webhooks make the server call an address: only the admin sets them up (no probing of internal hosts)
    network_admin = {"Authorization": f"Bearer {token_for(Role.NETWORK_ADMIN)}"}
    refused = client.post("/api/v1/notifications/subscriptions", json=body, headers=network_admin)
    assert refused.status_code == 403 and refused.json()["error"]["details"][0]["field"] == "channel"
    assert receiver.requests == []
    headers = {"Authorization": f"Bearer {token_for(Role.ADMIN)}"}
    sid = client.post("/api/v1/notifications/subscriptions", json=body, headers=headers).json()["id"]
    r = client.post(f"/api/v1/notifications/subscriptions/{sid}/test", headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["attempts"], r.json()["event_type"]) == ("sent", 1, "test")
    assert len(receiver.requests) == 1
    content = json.loads(receiver.requests[0].body)["markdown"]["content"]
    assert content.startswith("## 测试通知 / test notification\n\n这是一条来自云网的测试通知")


def test_dispatch_now_after_the_producers_commit(db: Database, receiver: Receiver) -> None:
    subscribe(db, Channel.WEBHOOK, receiver.url + "/now", WebhookFormat.JSON)
    d = Dispatcher(db, SmtpConfig(), FAST)
    outbox.dispatch_after_commit(db, d.kick)
    node_down(db)  # commits: the kick sends it in a background thread, no scheduled run needed
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    while d._kicking and time.monotonic() < deadline:  # let the background run record its outcome
        time.sleep(0.05)
    assert len(receiver.requests) == 1
    assert statuses(db) == [(DeliveryStatus.SENT, 1, None)]


@pytest.mark.parametrize("address", ["http://[::1", "http://a:99999/", "https://exa mple.com/", "http://%zz/"])
def test_a_malformed_webhook_url_is_refused_in_the_error_shape(
    client: TestClient, token_for: Callable[..., str], address: str
) -> None:
    headers = {"Authorization": f"Bearer {token_for(Role.ADMIN)}"}
    body = {"event_types": ["node_down"], "channel": "webhook", "address": address}
    r = client.post("/api/v1/notifications/subscriptions", json=body, headers=headers)
    assert r.status_code == 422, r.text  # was a 500 for "http://[::1"; the others were stored
    assert r.json()["error"]["details"][0]["field"] == "address"
