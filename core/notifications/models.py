"""The notification tables: the outbox of events, the subscriptions, one delivery per (event, subscription)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, enum_type
from core.enums import Role


class EventType(StrEnum):
    """What an event reports (subscriptions name the types they want)."""

    APPROVAL_WAITING = "approval_waiting"
    REQUEST_APPROVED = "request_approved"
    REQUEST_REJECTED = "request_rejected"
    REQUEST_PROVISIONED = "request_provisioned"
    REQUEST_FAILED = "request_failed"
    NODE_DOWN = "node_down"
    NODE_RECOVERED = "node_recovered"
    RATE_BELOW_TARGET = "rate_below_target"
    ALERT_FIRING = "alert_firing"
    ALERT_RESOLVED = "alert_resolved"
    TEST = "test"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class WebhookFormat(StrEnum):
    JSON = "json"
    WECOM = "wecom"  # 企业微信群机器人
    DINGTALK = "dingtalk"  # 钉钉群机器人


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by one dispatcher until `claimed_until`
    SENT = "sent"
    FAILED = "failed"  # given up after the last attempt; `last_error` says why


class NotificationEvent(Base):
    """One event in the outbox, written in the producer's own transaction (it exists iff the change committed)."""

    __tablename__ = "notification_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    event_type: Mapped[EventType] = mapped_column(enum_type(EventType))
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON)  # audience roles
    principals: Mapped[list[str]] = mapped_column(JSON)  # audience names (token names)
    unit_id: Mapped[int | None] = mapped_column(Integer)  # the unit the event concerns (scoped roles)
    unit_exact: Mapped[bool] = mapped_column(Boolean, default=False)  # scoped roles of exactly that unit
    title: Mapped[str] = mapped_column(String(300))  # 中文 / English
    body: Mapped[str] = mapped_column(Text)  # Chinese lines first, English beside
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class NotificationSubscription(Base):
    """Where a user (`owner`, for themselves) or a role (created by the admin) wants which events sent."""

    __tablename__ = "notification_subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(100), index=True)  # a principal's name: a personal one
    role: Mapped[Role | None] = mapped_column(enum_type(Role))  # a role's subscription (admin)
    unit_id: Mapped[int | None] = mapped_column(Integer)  # a scoped role's unit (its subtree)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    address: Mapped[str] = mapped_column(String(500))  # e-mail address or webhook URL
    webhook_format: Mapped[WebhookFormat | None] = mapped_column(enum_type(WebhookFormat))
    secret: Mapped[str | None] = mapped_column(String(200))  # DingTalk signing secret; never returned
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class NotificationDelivery(Base):
    """One event to one subscription; the unique pair means nothing is sent twice."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id", name="uq_notification_deliveries_event_subscription"),
        Index("ix_notification_deliveries_status_next", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("notification_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("notification_subscriptions.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[DeliveryStatus] = mapped_column(enum_type(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
