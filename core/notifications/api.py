"""`/api/v1/notifications`: subscriptions (own ones; the admin all and per-role ones), deliveries, send test,
and the Alertmanager webhook receiver. Who may call each route: orchestrator/app/permission_table.py."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import json_value, record_change
from core.db import Base, Database
from core.deps import CurrentPrincipal, SessionDep, change_context
from core.enums import ChangeAction, Role
from core.errors import Forbidden, NotFound, Problem, ValidationFailed
from core.identity import SCOPED_ROLES, Principal
from core.jobs import Jobs
from core.notifications import alertmanager, outbox
from core.notifications.channels import safe_url
from core.notifications.dispatch import Dispatcher
from core.notifications.models import (
    Channel,
    DeliveryStatus,
    EventType,
    NotificationDelivery,
    NotificationEvent,
    NotificationSubscription,
    WebhookFormat,
)
from core.notifications.outbox import Audience, emit
from core.responses import ResponseModel
from core.times import OutputTime
from core.validation import Id, Limit, Offset, SafeStr
from core.wiring import Key, provider, services

PREFIX = "/api/v1/notifications"
KIND = "notification_subscriptions"
DISPATCHER: Key[Dispatcher] = Key("notification_dispatcher")
get_dispatcher = provider(DISPATCHER)
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
SubId = Annotated[Id, Path(description="订阅编号 / subscription id")]
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class SubscriptionIn(BaseModel):
    """A new subscription: yours, or (admin) a role's; `secret` is DingTalk's signing secret (never returned)."""

    model_config = ConfigDict(extra="forbid")
    event_types: list[EventType] = Field(min_length=1, max_length=len(EventType))
    channel: Channel
    address: SafeStr = Field(max_length=500, description="e-mail 地址或 webhook URL / e-mail address or webhook URL")
    webhook_format: WebhookFormat | None = None
    secret: SecretStr | None = Field(None, max_length=200)
    enabled: bool = True
    role: Role | None = Field(None, description="按角色订阅（仅管理员）/ a role's subscription (admin only)")
    unit_id: Id | None = Field(None, description="范围角色的单位 / the unit of a scoped role")


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_types: list[EventType] | None = Field(None, min_length=1, max_length=len(EventType))
    address: SafeStr | None = Field(None, max_length=500)
    webhook_format: WebhookFormat | None = None
    secret: SecretStr | None = Field(None, max_length=200)
    enabled: bool | None = None


class SubscriptionOut(ResponseModel):
    id: int
    owner: str | None
    role: Role | None
    unit_id: int | None
    event_types: list[str]
    channel: Channel
    address: str = Field(
        description="webhook URL 不含查询串（机器人密钥）/ webhook URLs without their query (robot keys)"
    )
    webhook_format: WebhookFormat | None
    signed: bool = Field(description="设置了钉钉加签密钥 / a DingTalk signing secret is set (never shown)")
    enabled: bool
    created_by: str
    created_at: OutputTime | None


class SubscriptionList(ResponseModel):
    items: list[SubscriptionOut]


class DeliveryOut(ResponseModel):
    id: int
    event_id: int
    event_type: str
    title: str
    subscription_id: int
    channel: Channel
    address: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: OutputTime | None
    sent_at: OutputTime | None
    last_error: str | None
    created_at: OutputTime


class DeliveryPage(ResponseModel):
    total: int
    items: list[DeliveryOut]


class DeletedOut(ResponseModel):
    id: int
    deleted: Literal[True]


def _shown_address(sub: NotificationSubscription) -> str:
    return sub.address if sub.channel == Channel.EMAIL else safe_url(sub.address)


def _out(sub: NotificationSubscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "owner": sub.owner,
        "role": sub.role,
        "unit_id": sub.unit_id,
        "event_types": list(sub.event_types),
        "channel": sub.channel,
        "address": _shown_address(sub),
        "webhook_format": sub.webhook_format,
        "signed": bool(sub.secret),
        "enabled": sub.enabled,
        "created_by": sub.created_by,
        "created_at": sub.created_at,
    }


def _snapshot(sub: NotificationSubscription) -> dict[str, Any]:
    """The audited state (no secret: only whether one is set)."""
    return {k: json_value(v) for k, v in _out(sub).items() if k != "created_at"}


def _bad(message: str, field: str, value: Any = None) -> ValidationFailed:
    return ValidationFailed(message, [Problem(message, field=field, value=value)])


# A host name or an IP address (brackets of IPv6 removed by httpx); no spaces, percent signs or other oddities.
HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]+")


def require_webhook_admin(p: Principal, channel: Channel) -> None:
    """Webhooks make the server send HTTP requests to an address of the caller's choosing: the admin sets them up
    (others subscribe by e-mail), so a user cannot use the service to reach internal addresses."""
    if channel == Channel.WEBHOOK and p.role != Role.ADMIN:
        raise Forbidden(
            "只有管理员可以设置 webhook 订阅，其他角色请用电子邮件 / only the admin sets up webhook subscriptions; "
            "other roles subscribe by e-mail",
            [Problem("admin only", field="channel", value=channel.value)],
        )


def check_target(channel: Channel, address: str, fmt: WebhookFormat | None, secret: str | None) -> None:
    """A subscription's target must be usable: an e-mail address, or an http(s) URL with a known format."""
    if channel == Channel.EMAIL:
        if not EMAIL.match(address):
            raise _bad("不是有效的电子邮件地址 / not an e-mail address", "address", address)
        if fmt is not None or secret:
            raise _bad("电子邮件订阅没有 webhook 格式或密钥 / e-mail has no webhook format or secret", "webhook_format")
        return
    try:
        url = httpx.URL(address)
    except (httpx.InvalidURL, ValueError):
        raise _bad("不是有效的 URL / not a URL", "address", address.split("?", 1)[0][:200]) from None
    if url.scheme not in ("http", "https") or not HOST.fullmatch(url.host) or not 0 < (url.port or 80) < 65536:
        raise _bad("webhook 须为 http(s) URL / a webhook must be an http(s) URL", "address", safe_url(address))
    if secret and fmt != WebhookFormat.DINGTALK:
        raise _bad("只有钉钉机器人使用加签密钥 / only DingTalk robots take a signing secret", "secret")


def _unit_exists(session: Session, unit_id: int) -> bool:
    units = Base.metadata.tables["units"]
    return session.scalar(select(units.c.id).where(units.c.id == unit_id)) is not None


def _visible(p: Principal, sub: NotificationSubscription) -> bool:
    return p.role == Role.ADMIN or sub.owner == p.name


def _get(session: Session, p: Principal, subscription_id: int) -> NotificationSubscription:
    sub = session.get(NotificationSubscription, subscription_id)
    if sub is None or not _visible(p, sub):  # another's subscription looks absent
        raise NotFound(
            "订阅不存在 / subscription not found", [Problem("no such id", field="id", value=subscription_id)]
        )
    return sub


def create_subscription(session: Session, p: Principal, body: SubscriptionIn) -> NotificationSubscription:
    secret = body.secret.get_secret_value() if body.secret else None
    fmt = body.webhook_format or (WebhookFormat.JSON if body.channel == Channel.WEBHOOK else None)
    require_webhook_admin(p, body.channel)
    check_target(body.channel, body.address, fmt, secret)
    if body.role is None:
        if body.unit_id is not None:
            raise _bad("个人订阅的范围即本人的角色和单位 / a personal subscription has your own scope", "unit_id")
        owner: str | None = p.name
    else:
        if p.role != Role.ADMIN:
            raise Forbidden(
                "只有管理员可以创建角色订阅 / only the admin creates a role's subscription",
                [Problem("admin only", field="role", value=body.role.value)],
            )
        if (body.role in SCOPED_ROLES) != (body.unit_id is not None):
            raise _bad("范围角色须指定单位，其他角色不能指定 / a scoped role needs a unit, others take none", "unit_id")
        if body.unit_id is not None and not _unit_exists(session, body.unit_id):
            raise NotFound("单位不存在 / unknown unit", [Problem("no such unit", field="unit_id", value=body.unit_id)])
        owner = None
    sub = NotificationSubscription(
        owner=owner,
        role=body.role,
        unit_id=body.unit_id,
        event_types=sorted({t.value for t in body.event_types}),
        channel=body.channel,
        address=body.address,
        webhook_format=fmt,
        secret=secret,
        enabled=body.enabled,
        created_by=p.name,
    )
    session.add(sub)
    session.flush()
    return sub


def change_subscription(p: Principal, sub: NotificationSubscription, body: SubscriptionPatch) -> None:
    """Apply a PATCH (a `secret` of null clears it); the result must still be a usable target."""
    changes = body.model_dump(exclude_unset=True)
    if "secret" in changes:
        sub.secret = body.secret.get_secret_value() if body.secret else None
    if body.event_types is not None:
        sub.event_types = sorted({t.value for t in body.event_types})
    if body.address is not None:
        sub.address = body.address
    if "webhook_format" in changes and sub.channel == Channel.WEBHOOK:
        sub.webhook_format = body.webhook_format or WebhookFormat.JSON
    if body.enabled is not None:
        sub.enabled = body.enabled
    require_webhook_admin(p, sub.channel)
    check_target(sub.channel, sub.address, sub.webhook_format, sub.secret)


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["notifications"])

    @router.get("/subscriptions", response_model=SubscriptionList, summary="My subscriptions / 我的订阅")
    def list_subscriptions(session: SessionDep, p: CurrentPrincipal) -> dict[str, Any]:
        query = select(NotificationSubscription).order_by(NotificationSubscription.id)
        if p.role != Role.ADMIN:
            query = query.where(NotificationSubscription.owner == p.name)
        return {"items": [_out(s) for s in session.scalars(query)]}

    @router.post("/subscriptions", status_code=201, response_model=SubscriptionOut, summary="Subscribe / 新建订阅")
    def post_subscription(
        request: Request, session: SessionDep, p: CurrentPrincipal, body: SubscriptionIn
    ) -> dict[str, Any]:
        sub = create_subscription(session, p, body)
        record_change(session, change_context(request, p), KIND, sub.id, ChangeAction.CREATE, None, _snapshot(sub))
        session.commit()
        return _out(sub)

    @router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="One subscription")
    def get_subscription(session: SessionDep, p: CurrentPrincipal, subscription_id: SubId) -> dict[str, Any]:
        return _out(_get(session, p, subscription_id))

    @router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="Change / 修改订阅")
    def patch_subscription(
        request: Request, session: SessionDep, p: CurrentPrincipal, subscription_id: SubId, body: SubscriptionPatch
    ) -> dict[str, Any]:
        sub = _get(session, p, subscription_id)
        before = _snapshot(sub)
        change_subscription(p, sub, body)
        record_change(session, change_context(request, p), KIND, sub.id, ChangeAction.UPDATE, before, _snapshot(sub))
        session.commit()
        return _out(sub)

    @router.delete("/subscriptions/{subscription_id}", response_model=DeletedOut, summary="Unsubscribe / 删除订阅")
    def delete_subscription(
        request: Request, session: SessionDep, p: CurrentPrincipal, subscription_id: SubId
    ) -> dict[str, Any]:
        sub = _get(session, p, subscription_id)
        record_change(session, change_context(request, p), KIND, sub.id, ChangeAction.DELETE, _snapshot(sub), None)
        session.delete(sub)
        session.commit()
        return {"id": subscription_id, "deleted": True}

    _delivery_routes(router)
    return router


def _delivery_routes(router: APIRouter) -> None:
    """Send test, deliveries and the Alertmanager receiver."""

    @router.post(
        "/subscriptions/{subscription_id}/test",
        response_model=DeliveryOut,
        summary="Send a test notification now / 发送测试通知",
    )
    def send_test(
        session: SessionDep, p: CurrentPrincipal, dispatcher: DispatcherDep, subscription_id: SubId
    ) -> dict[str, Any]:
        sub = _get(session, p, subscription_id)
        if not sub.enabled:
            raise _bad("订阅已停用 / the subscription is disabled", "enabled", False)
        key = f"test:{sub.id}:{uuid.uuid4().hex}"
        event = emit(session, EventType.TEST, Audience(), {"subscription": sub.id}, key, only=[sub.id])
        assert event is not None  # a fresh key
        delivery_id = session.scalars(
            select(NotificationDelivery.id).where(NotificationDelivery.event_id == event.id)
        ).one()
        session.commit()  # ends the write transaction before the dispatcher writes in its own sessions
        dispatcher.run(only=[delivery_id])
        session.expire_all()
        return _delivery_rows(session, select_ids=[delivery_id])[0]

    @router.get("/deliveries", response_model=DeliveryPage, summary="Deliveries: status, attempts, last error")
    def list_deliveries(
        session: SessionDep,
        p: CurrentPrincipal,
        status: Annotated[DeliveryStatus | None, Query()] = None,
        subscription_id: Annotated[Id | None, Query()] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        query = _delivery_query(p, status, subscription_id)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(query.order_by(NotificationDelivery.id.desc()).limit(limit).offset(offset)).all()
        return {"total": total, "items": [_delivery_out(*r) for r in rows]}

    @router.post(
        "/alertmanager",
        response_model=alertmanager.ReceivedOut,
        summary="Alertmanager webhook (version 4) → events / 接收 Alertmanager 告警",
    )
    def receive_alerts(session: SessionDep, body: alertmanager.Payload) -> dict[str, Any]:
        out = alertmanager.receive(session, body)
        session.commit()
        return out


def _delivery_query(p: Principal, status: DeliveryStatus | None, subscription_id: int | None) -> Any:
    query = (
        select(NotificationDelivery, NotificationEvent, NotificationSubscription)
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
        .join(NotificationSubscription, NotificationSubscription.id == NotificationDelivery.subscription_id)
    )
    if p.role != Role.ADMIN:
        query = query.where(NotificationSubscription.owner == p.name)
    if status is not None:
        query = query.where(NotificationDelivery.status == status)
    if subscription_id is not None:
        query = query.where(NotificationDelivery.subscription_id == subscription_id)
    return query


def _delivery_out(d: NotificationDelivery, e: NotificationEvent, sub: NotificationSubscription) -> dict[str, Any]:
    pending = d.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    return {
        "id": d.id,
        "event_id": e.id,
        "event_type": e.event_type.value,
        "title": e.title,
        "subscription_id": sub.id,
        "channel": sub.channel,
        "address": _shown_address(sub),
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at if pending else None,
        "sent_at": d.sent_at,
        "last_error": d.last_error,
        "created_at": d.created_at,
    }


def _delivery_rows(session: Session, select_ids: list[int]) -> list[dict[str, Any]]:
    query = _delivery_query(Principal(name="system:notifications", role=Role.ADMIN), None, None)
    rows = session.execute(query.where(NotificationDelivery.id.in_(select_ids))).all()
    return [_delivery_out(*r) for r in rows]


JOB_ID = "notifications_dispatch"


def install(
    app: FastAPI, db: Database, jobs: Jobs, dispatcher: Dispatcher, every_s: int, dispatch_on_commit: bool
) -> None:
    """The routes, the dispatcher (in the container, and a leased job every `every_s` on the one scheduler), and
    when `dispatch_on_commit`, a dispatch right after every commit that emitted events (in a background thread)."""
    services(app).provide(DISPATCHER, dispatcher)
    app.include_router(build_router())
    jobs.add_interval(JOB_ID, dispatcher.run, every_s, min(every_s // 4, 10))
    if dispatch_on_commit:
        outbox.dispatch_after_commit(db, dispatcher.kick)
