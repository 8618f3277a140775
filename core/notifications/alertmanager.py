"""Alertmanager's webhook (payload version 4) → notification events for the role in each alert's `audience` label.

One event per alert and status: firing (`alert_firing`) and resolved (`alert_resolved`), deduplicated by the
alert's fingerprint, status and start, so Alertmanager's repeated notifications of one firing alert send nothing
twice. An alert without a usable `audience` label (an unscoped role, e.g. `network_admin`) is ignored with its reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import MaxLen
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from core.enums import Role
from core.errors import Problem, ValidationFailed
from core.identity import SCOPED_ROLES
from core.notifications.models import EventType
from core.notifications.outbox import Audience, emit
from core.responses import ResponseModel
from core.times import iso
from core.validation import Count

log = logging.getLogger("yunwang.notifications")
Text = Field(default="", max_length=2000)
Value = Annotated[str, MaxLen(2000)]  # a label or annotation value


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["firing", "resolved"]
    labels: dict[str, Value] = Field(default_factory=dict, max_length=100)
    annotations: dict[str, Value] = Field(default_factory=dict, max_length=100)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = Text
    fingerprint: str = Field(default="", max_length=64)


class Payload(BaseModel):
    """What Alertmanager posts to a webhook receiver (version 4)."""

    model_config = ConfigDict(extra="ignore")
    version: str = Field(max_length=8)
    groupKey: str = Text
    truncatedAlerts: Count = 0
    status: Literal["firing", "resolved"]
    receiver: str = Field(default="", max_length=200)
    alerts: list[Alert] = Field(max_length=1000)


class IgnoredAlert(ResponseModel):
    fingerprint: str
    reason: str


class ReceivedOut(ResponseModel):
    received: int
    emitted: int
    duplicates: int
    ignored: list[IgnoredAlert]


def _fingerprint(alert: Alert) -> str:
    if alert.fingerprint:
        return alert.fingerprint
    return hashlib.sha256(json.dumps(alert.labels, sort_keys=True).encode()).hexdigest()[:16]


def _audience(alert: Alert) -> Role | str:
    """The role named by the `audience` label, or why it cannot be used."""
    name = alert.labels.get("audience", "")
    try:
        role = Role(name)
    except ValueError:
        return f"label audience={name!r} is not a role" if name else "no audience label"
    if role in SCOPED_ROLES:
        return f"audience {role.value} is scoped to a unit; alerts go to unscoped roles"
    return role


def receive(session: Session, body: Payload) -> dict[str, Any]:
    if body.version != "4":
        message = f"不支持的 Alertmanager 负载版本 / unsupported Alertmanager payload version {body.version!r}"
        raise ValidationFailed(message, [Problem("expected version 4", field="version", value=body.version)])
    emitted = duplicates = 0
    ignored: list[dict[str, str]] = []
    for alert in body.alerts:
        fp = _fingerprint(alert)
        role = _audience(alert)
        if not isinstance(role, Role):  # (Role is a str enum: test for the role)
            ignored.append({"fingerprint": fp, "reason": role})
            continue
        firing = alert.status == "firing"
        started = iso(alert.startsAt) if alert.startsAt else ""
        payload = {
            "alertname": alert.labels.get("alertname", ""),
            "summary": alert.annotations.get("summary", "") or alert.annotations.get("description", ""),
            "starts_at": started,
            "ends_at": iso(alert.endsAt) if alert.endsAt and not firing else "",
            "labels": dict(alert.labels),
            "fingerprint": fp,
        }
        kind = EventType.ALERT_FIRING if firing else EventType.ALERT_RESOLVED
        key = f"alert:{fp}:{alert.status}:{started}"
        if emit(session, kind, Audience(roles=frozenset({role})), payload, key) is None:
            duplicates += 1
        else:
            emitted += 1
    if ignored:
        log.warning("alertmanager: %d alert(s) ignored: %s", len(ignored), ignored[0]["reason"])
    return {"received": len(body.alerts), "emitted": emitted, "duplicates": duplicates, "ignored": ignored}
