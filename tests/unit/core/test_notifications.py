"""The notification outbox: audience and scope matching, dedup, exact robot formats, DingTalk's signature,
the API's secrecy and the Alertmanager receiver. Every expected figure is counted by hand in the comments."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from collectors import store
from core import accounts
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.models import ApiToken
from core.notifications.channels import Message, dingtalk_sign, safe_url, signed_url, webhook_body
from core.notifications.messages import render
from core.notifications.models import (
    Channel,
    EventType,
    NotificationDelivery,
    NotificationEvent,
    NotificationSubscription,
    WebhookFormat,
)
from core.notifications.outbox import Audience, emit
from core.times import BEIJING
from dashboards import rate_alerts
from inventory.enums import NodeState
from tests.builders import Inv

MSG = Message(7, "node_down", "node_down:3:x", "2026-12-01T00:00:00+00:00", "标题 / title", "中文行\nEnglish line", {})


def test_wecom_body_is_the_documented_markdown_shape_byte_for_byte() -> None:
    expected = '{"msgtype":"markdown","markdown":{"content":"## 标题 / title\\n\\n中文行\\nEnglish line"}}'.encode()
    assert webhook_body(WebhookFormat.WECOM, MSG) == expected


def test_dingtalk_body_is_the_documented_markdown_shape_byte_for_byte() -> None:
    expected = (
        '{"msgtype":"markdown","markdown":{"title":"标题 / title","text":"## 标题 / title\\n\\n中文行\\nEnglish line"}}'
    ).encode()
    assert webhook_body(WebhookFormat.DINGTALK, MSG) == expected


def test_generic_json_body_names_the_event() -> None:
    body = json.loads(webhook_body(WebhookFormat.JSON, MSG))
    assert body == {
        "event_type": "node_down",
        "event_id": 7,
        "dedup_key": "node_down:3:x",
        "at": "2026-12-01T00:00:00+00:00",
        "title": "标题 / title",
        "text": "中文行\nEnglish line",
        "payload": {},
    }


def test_dingtalk_sign_matches_the_value_computed_by_openssl() -> None:
    # printf '1700000000000\nSECtest' | openssl dgst -sha256 -hmac SECtest -binary | base64
    assert dingtalk_sign("SECtest", 1700000000000) == "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
    url = signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", "SECtest", 1700000000000)
    assert url == (
        "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000"
        "&sign=aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D"
    )


def test_safe_url_drops_the_robot_key() -> None:
    assert safe_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-123") == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…"
    )


def test_messages_are_chinese_first_with_english_beside() -> None:
    title, body = render(EventType.NODE_DOWN, {"code": "N1", "name": "南宁", "old": "up", "at": "T"})
    assert title == "外网节点中断：N1 南宁 / extranet node down: N1 南宁"
    assert body == "节点 N1（南宁）于 T 由 up 变为 down。\nNode N1 (南宁) went from up to down at T."


def _sub(s: Session, **kw: object) -> int:
    fields: dict[str, object] = {
        "event_types": [t.value for t in EventType],
        "channel": Channel.WEBHOOK,
        "address": "http://127.0.0.1:9/hook",
        "webhook_format": WebhookFormat.JSON,
        "enabled": True,
        "created_by": "tester",
    }
    row = NotificationSubscription(**(fields | kw))
    s.add(row)
    s.flush()
    return row.id


def _targets(db: Database, event_id: int) -> set[int]:
    with db.read_session() as s:
        q = select(NotificationDelivery.subscription_id).where(NotificationDelivery.event_id == event_id)
        return set(s.scalars(q))


def test_audience_scope_roles_names_and_exact_unit(db: Database) -> None:
    with db.session() as s:
        b = Inv(s).basic()  # region unit ⊃ city unit ⊃ county unit
        other = Inv(s).unit(b["region"], "region", name="另一单位")
        create_token(s, "dept-county", Role.DEPARTMENT_USER, b["county_unit"])
        create_token(s, "dept-other", Role.DEPARTMENT_USER, other)
        create_token(s, "chief-region", Role.SUB_CLOUD_CHIEF, b["unit"])
        create_token(s, "gone", Role.DEPARTMENT_USER, b["county_unit"])
        s.execute(update(ApiToken).where(ApiToken.name == "gone").values(revoked=True))
        subs = {
            "role_dept_city": _sub(s, role=Role.DEPARTMENT_USER, unit_id=b["city_unit"]),  # city ⊃ county: yes
            "role_dept_other": _sub(s, role=Role.DEPARTMENT_USER, unit_id=other),  # another line: no
            "role_office": _sub(s, role=Role.CLOUD_CHIEF_OFFICE),  # role not in the audience: no
            "own_dept_county": _sub(s, owner="dept-county"),  # own unit = county: yes
            "own_dept_other": _sub(s, owner="dept-other"),  # named below: yes, although out of scope
            "own_chief_region": _sub(s, owner="chief-region"),  # not department_user: no
            "own_gone": _sub(s, owner="gone"),  # revoked token: nothing
            "disabled": _sub(s, role=Role.DEPARTMENT_USER, unit_id=b["county_unit"], enabled=False),
        }
        audience = Audience(
            roles=frozenset({Role.DEPARTMENT_USER}), principals=frozenset({"DEPT-other"}), unit_id=b["county_unit"]
        )
        event = emit(s, EventType.REQUEST_APPROVED, audience, {"code": "RR1"}, "k1")
        assert event is not None
        exact = Audience(roles=frozenset({Role.SUB_CLOUD_CHIEF}), unit_id=b["city_unit"], unit_exact=True)
        chief_city = _sub(s, role=Role.SUB_CLOUD_CHIEF, unit_id=b["city_unit"])
        chief_region = _sub(s, role=Role.SUB_CLOUD_CHIEF, unit_id=b["unit"])  # city is in its subtree, not exact
        waiting = emit(s, EventType.APPROVAL_WAITING, exact, {"code": "RR1"}, "k2")
        assert waiting is not None
        ids = event.id, waiting.id
    assert _targets(db, ids[0]) == {subs["role_dept_city"], subs["own_dept_county"], subs["own_dept_other"]}
    assert _targets(db, ids[1]) == {chief_city}
    assert chief_region not in _targets(db, ids[1])


def test_signed_in_accounts_own_subscriptions_like_token_holders(db: Database) -> None:
    """A person who signs in with an account (no API token) gets their own subscriptions; a disabled one does not."""
    with db.session() as s:
        b = Inv(s).basic()
        ctx = ChangeContext(actor="admin", role="admin")
        accounts.create(
            s, ctx, accounts.NewAccount("王五", Role.DEPARTMENT_USER, b["county_unit"], password="a-long-passphrase")
        )
        gone = accounts.create(
            s, ctx, accounts.NewAccount("赵六", Role.DEPARTMENT_USER, b["county_unit"], password="a-long-passphrase")
        )
        accounts.update(s, ctx, gone, disabled=True)
        mine, disabled = _sub(s, owner="王五"), _sub(s, owner="赵六")
        audience = Audience(roles=frozenset({Role.DEPARTMENT_USER}), unit_id=b["county_unit"])
        event = emit(s, EventType.REQUEST_APPROVED, audience, {"code": "RR2"}, "acc1")
        assert event is not None
        event_id = event.id
    assert _targets(db, event_id) == {mine}
    assert disabled not in _targets(db, event_id)


def test_subscriptions_name_their_event_types(db: Database) -> None:
    with db.session() as s:
        only_down = NotificationSubscription(
            role=Role.NETWORK_ADMIN,
            event_types=["node_down"],
            channel=Channel.EMAIL,
            address="noc@example.org",
            enabled=True,
            created_by="admin",
        )
        s.add(only_down)
        s.flush()
        down = emit(s, EventType.NODE_DOWN, Audience(roles=frozenset({Role.NETWORK_ADMIN})), {}, "d")
        up = emit(s, EventType.NODE_RECOVERED, Audience(roles=frozenset({Role.NETWORK_ADMIN})), {}, "u")
        assert down is not None and up is not None
        ids = down.id, up.id, only_down.id
    assert _targets(db, ids[0]) == {ids[2]} and _targets(db, ids[1]) == set()


def test_same_dedup_key_twice_writes_one_event_and_one_delivery(db: Database) -> None:
    audience = Audience(roles=frozenset({Role.NETWORK_ADMIN}))
    with db.session() as s:
        _sub(s, role=Role.NETWORK_ADMIN)
        assert emit(s, EventType.NODE_DOWN, audience, {}, "node_down:1:t") is not None
    with db.session() as s:  # a later transaction (another run of the producer)
        assert emit(s, EventType.NODE_DOWN, audience, {}, "node_down:1:t") is None
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(NotificationEvent)) == 1
        assert s.scalar(select(func.count()).select_from(NotificationDelivery)) == 1


def test_an_event_exists_only_if_the_producers_transaction_committed(db: Database) -> None:
    try:
        with db.session() as s:
            emit(s, EventType.NODE_DOWN, Audience(roles=frozenset({Role.NETWORK_ADMIN})), {}, "rolled-back")
            raise RuntimeError("the producer's change fails")
    except RuntimeError:
        pass
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(NotificationEvent)) == 0


def test_node_going_down_and_recovering_tells_network_admins(db: Database, ctx: ChangeContext) -> None:
    with db.session() as s:
        b = Inv(s).basic()
        node = Inv(s).node(b["region"], code="N-450000", state="up")
        sub = _sub(s, role=Role.NETWORK_ADMIN)
    t1, t2 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC), datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with db.session() as s:
        store.apply_states(s, {node: NodeState.DOWN}, ctx, t1)
    with db.session() as s:
        store.apply_states(s, {node: NodeState.DOWN}, ctx, t2)  # unchanged: nothing
        store.apply_states(s, {node: NodeState.DEGRADED}, ctx, t2)
    with db.read_session() as s:
        events = s.execute(select(NotificationEvent.event_type, NotificationEvent.dedup_key)).all()
        assert sorted((e.value, k) for e, k in events) == [
            ("node_down", f"node_down:{node}:2026-12-01T01:00:00+00:00"),
            ("node_recovered", f"node_recovered:{node}:2026-12-01T02:00:00+00:00"),
        ]
        assert s.scalar(select(func.count()).where(NotificationDelivery.subscription_id == sub)) == 2


def test_month_end_rate_below_target_once_per_rate_and_month(db: Database) -> None:
    with db.session() as s:
        b = Inv(s).basic()
        Inv(s).system(b["unit"], room_id=b["room"])  # 0 of 1 systems migrated: below the 100 % target
        _sub(s, role=Role.CLOUD_CHIEF_OFFICE)
    assert rate_alerts.month_end(date(2030, 1, 5)) == ("2029-12", datetime(2030, 1, 1, tzinfo=BEIJING))
    rate_alerts.check_month_end(db, date(2030, 2, 15))
    second = rate_alerts.check_month_end(db, date(2030, 2, 20))  # the same month again: nothing new
    assert second.failures == 0
    with db.read_session() as s:
        keys = set(s.scalars(select(NotificationEvent.dedup_key)))
        payload = s.scalar(
            select(NotificationEvent.payload).where(
                NotificationEvent.dedup_key == "rate_below_target:systems_migrated:2030-01"
            )
        )
    assert "rate_below_target:systems_migrated:2030-01" in keys
    assert payload is not None and (payload["numerator"], payload["denominator"], payload["ratio"]) == (0, 1, "0.0%")


def _hook(client: TestClient, token: str, **body: object) -> Response:
    r: Response = client.post(
        "/api/v1/notifications/subscriptions", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return r


def test_api_never_returns_the_secret_or_the_robot_key(client: TestClient, token_for: Callable[..., str]) -> None:
    admin = token_for(Role.ADMIN)
    r = _hook(
        client,
        admin,
        event_types=["node_down"],
        channel="webhook",
        address="https://oapi.dingtalk.com/robot/send?access_token=ROBOTKEY123",
        webhook_format="dingtalk",
        secret="SECsigning456",
        role="network_admin",
    )
    assert r.status_code == 201, r.text
    listed = client.get("/api/v1/notifications/subscriptions", headers={"Authorization": f"Bearer {admin}"})
    changes = client.get(
        "/api/v1/inventory/changes?kind=notification_subscriptions", headers={"Authorization": f"Bearer {admin}"}
    )
    for text in (r.text, listed.text, changes.text):
        assert "ROBOTKEY123" not in text and "SECsigning456" not in text
    assert r.json()["signed"] is True and r.json()["address"] == "https://oapi.dingtalk.com/robot/send?…"


def test_only_the_admin_makes_role_subscriptions_and_users_see_only_their_own(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    ops, net = token_for(Role.CLOUD_OPERATOR), token_for(Role.NETWORK_ADMIN)
    mine = dict(event_types=["node_down"], channel="email", address="ops@example.org")
    assert _hook(client, ops, **mine, role="network_admin").status_code == 403
    own = _hook(client, ops, **mine)
    assert own.status_code == 201 and own.json()["owner"].startswith("cloud_operator-")
    sid = own.json()["id"]
    assert (
        client.get(f"/api/v1/notifications/subscriptions/{sid}", headers={"Authorization": f"Bearer {net}"}).status_code
        == 404
    )
    listed = client.get("/api/v1/notifications/subscriptions", headers={"Authorization": f"Bearer {net}"}).json()
    assert listed == {"items": []}
    bad = _hook(client, ops, event_types=["node_down"], channel="email", address="not-an-address")
    assert bad.status_code == 422


def test_alertmanager_payload_becomes_events_for_the_labelled_role(
    client: TestClient, token_for: Callable[..., str], db: Database
) -> None:
    admin = token_for(Role.ADMIN)
    assert (
        _hook(
            client,
            admin,
            event_types=["alert_firing", "alert_resolved"],
            channel="email",
            address="noc@example.org",
            role="network_admin",
        ).status_code
        == 201
    )
    alert = {
        "status": "firing",
        "labels": {"alertname": "ExtranetNodeDown", "audience": "network_admin", "node": "N1"},
        "annotations": {"summary": "节点 N1 中断 / node N1 down"},
        "startsAt": "2026-12-01T08:00:00+08:00",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": "a1b2c3",
    }
    unlabelled = alert | {"labels": {"alertname": "X"}, "fingerprint": "d4e5"}
    payload = {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing",
        "receiver": "yunwang",
        "alerts": [alert, unlabelled],
    }
    am = token_for(Role.NETWORK_ADMIN, name=f"alertmanager-{uuid.uuid4().hex[:4]}")
    headers = {"Authorization": f"Bearer {am}"}
    r = client.post("/api/v1/notifications/alertmanager", json=payload, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "received": 2,
        "emitted": 1,
        "duplicates": 0,
        "ignored": [{"fingerprint": "d4e5", "reason": "no audience label"}],
    }
    again = client.post("/api/v1/notifications/alertmanager", json=payload, headers=headers).json()
    assert (again["emitted"], again["duplicates"]) == (0, 1)  # Alertmanager's repeat: nothing twice
    resolved = payload | {
        "status": "resolved",
        "alerts": [alert | {"status": "resolved", "endsAt": "2026-12-01T08:05:00+08:00"}],
    }
    assert client.post("/api/v1/notifications/alertmanager", json=resolved, headers=headers).json()["emitted"] == 1
    assert (
        client.post("/api/v1/notifications/alertmanager", json=payload | {"version": "3"}, headers=headers).status_code
        == 422
    )
    ops = token_for(Role.CLOUD_OPERATOR)
    assert (
        client.post(
            "/api/v1/notifications/alertmanager", json=payload, headers={"Authorization": f"Bearer {ops}"}
        ).status_code
        == 403
    )
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(NotificationDelivery)) == 2  # firing + resolved
