"""The dispatcher: claims due deliveries, sends them, records the outcome.

A delivery is claimed by one conditional UPDATE (pending and due, or `sending` with an expired claim → `sending`
with this run's claim token); on PostgreSQL a second dispatcher's UPDATE waits for the first's row lock and then
no longer matches, on SQLite writers take turns, so each delivery is sent by one dispatcher only. Each attempt
retries transient errors with the one retry policy (`core.retry`); a failed attempt is tried again at a later
run (`next_attempt_at`, doubling back-off), and after `max_attempts` the delivery is `failed` with its error kept
(secrets scrubbed). A process that dies between sending and recording leaves its claim to expire: that delivery
is sent again (at least once after a crash; exactly once otherwise).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.db import Database
from core.jobs import JobOutcome
from core.notifications.channels import DeliveryError, Message, SmtpConfig, is_transient, send_email, send_webhook
from core.notifications.models import (
    Channel,
    DeliveryStatus,
    NotificationDelivery,
    NotificationEvent,
    NotificationSubscription,
    WebhookFormat,
)
from core.retry import RetryPolicy, call_with_retries
from core.times import iso, now_utc

log = logging.getLogger("yunwang.notifications")
S = DeliveryStatus


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard one delivery is tried: retries within an attempt, attempts across runs, the claim's lease."""

    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=3, initial_s=0.5, max_s=4.0))
    max_attempts: int = 5
    backoff_s: float = 60.0  # after attempt n: backoff_s * 2^(n-1), at most max_backoff_s
    max_backoff_s: float = 3600.0
    lease_s: float = 300.0
    batch: int = 50
    http_timeout_s: float = 10.0


@dataclass(frozen=True)
class Target:
    """Where one delivery goes (read from its subscription)."""

    channel: Channel
    address: str
    webhook_format: WebhookFormat
    secret: str | None


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(NotificationDelivery.status == S.PENDING, NotificationDelivery.next_attempt_at <= now),
        and_(NotificationDelivery.status == S.SENDING, NotificationDelivery.claimed_until < now),
    )


class Dispatcher:
    """Sends what the outbox holds; `run()` is the job on the one scheduler (and "dispatch now")."""

    def __init__(self, db: Database, smtp: SmtpConfig, policy: DeliveryPolicy | None = None) -> None:
        self.db = db
        self.smtp = smtp
        self.policy = policy or DeliveryPolicy()
        self._kick_lock = threading.Lock()
        self._kicking = False
        self._again = False

    def claim(self, only: Sequence[int] | None = None, tried: Set[int] = frozenset()) -> tuple[str, list[int]]:
        """Claim up to `batch` due deliveries (of `only`, when given; not `tried` in this run): (claim token, ids)."""
        token = uuid.uuid4().hex
        now = now_utc()
        claimed: list[int] = []
        with self.db.session() as s:
            query = select(NotificationDelivery.id).where(_due(now))
            if only is not None:
                query = query.where(NotificationDelivery.id.in_(list(only)))
            if tried:
                query = query.where(NotificationDelivery.id.not_in(list(tried)))
            ids = s.scalars(query.order_by(NotificationDelivery.id).limit(self.policy.batch)).all()
            for delivery_id in ids:
                result = s.execute(
                    update(NotificationDelivery)
                    .where(NotificationDelivery.id == delivery_id, _due(now))
                    .values(
                        status=S.SENDING, claimed_by=token, claimed_until=now + timedelta(seconds=self.policy.lease_s)
                    )
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(delivery_id)
        return token, claimed

    def run(self, only: Sequence[int] | None = None) -> JobOutcome:
        """Send every due delivery (batch after batch; of `only`, when given); counts attempts and failed ones."""
        sent = failed = 0
        tried: set[int] = set()  # one attempt per delivery and run, however short its back-off
        with httpx.Client(timeout=self.policy.http_timeout_s, follow_redirects=False) as client:
            while True:
                token, ids = self.claim(only, tried)
                if not ids:
                    break
                tried.update(ids)
                for delivery_id in ids:
                    if self._deliver(client, token, delivery_id):
                        sent += 1
                    else:
                        failed += 1
        return JobOutcome(targets=sent + failed, failures=failed)

    def kick(self) -> None:
        """Dispatch now in a background thread; while one runs, it runs once more instead of a second thread."""
        with self._kick_lock:
            if self._kicking:
                self._again = True
                return
            self._kicking = True
        threading.Thread(target=self._kick_loop, name="notifications-dispatch", daemon=True).start()

    def _kick_loop(self) -> None:
        while True:
            try:
                self.run()
            except Exception:  # the scheduled run tries again
                log.exception("notification dispatch failed")
            with self._kick_lock:
                if not self._again:
                    self._kicking = False
                    return
                self._again = False

    def _load(self, s: Session, delivery_id: int) -> tuple[Target, Message]:
        d = s.get_one(NotificationDelivery, delivery_id)
        e = s.get_one(NotificationEvent, d.event_id)
        sub = s.get_one(NotificationSubscription, d.subscription_id)
        msg = Message(e.id, e.event_type.value, e.dedup_key, iso(e.at), e.title, e.body, e.payload)
        return Target(sub.channel, sub.address, sub.webhook_format or WebhookFormat.JSON, sub.secret), msg

    def _send(self, client: httpx.Client, target: Target, msg: Message) -> None:
        if target.channel == Channel.EMAIL:
            send_email(self.smtp, target.address, msg)
        else:
            send_webhook(client, target.address, target.webhook_format, msg, target.secret)

    def _deliver(self, client: httpx.Client, token: str, delivery_id: int) -> bool:
        with self.db.read_session() as s:
            sub, msg = self._load(s, delivery_id)
        error: str | None = None
        try:
            call_with_retries(lambda: self._send(client, sub, msg), is_transient, self.policy.retry)
        except DeliveryError as exc:
            error = str(exc)
        except Exception as exc:  # an unexpected fault is one failed attempt, never a lost delivery
            error = f"{type(exc).__name__}"  # no message or traceback: either may hold the URL's robot key
            log.error("notification delivery %d failed unexpectedly: %s", delivery_id, error)
        self._record(token, delivery_id, error)
        return error is None

    def _record(self, token: str, delivery_id: int, error: str | None) -> None:
        now = now_utc()
        with self.db.session() as s:
            d = s.get(NotificationDelivery, delivery_id)
            if d is None or d.claimed_by != token:
                return  # our claim expired and another run took it over
            d.attempts += 1
            d.claimed_by, d.claimed_until, d.last_error = None, None, error
            if error is None:
                d.status, d.sent_at = S.SENT, now
            elif d.attempts >= self.policy.max_attempts:
                d.status = S.FAILED
                log.warning("notification delivery %d given up after %d attempts: %s", d.id, d.attempts, error)
            else:
                wait = min(self.policy.backoff_s * 2 ** (d.attempts - 1), self.policy.max_backoff_s)
                d.status, d.next_attempt_at = S.PENDING, now + timedelta(seconds=wait)
