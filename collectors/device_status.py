"""Per-device SSH collection status: facts kept only from parsed sessions, failures with their reason,
stale facts, trust-on-first-use host keys, and the view the metrics read after each sweep.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors.models import DeviceCollectStatus
from collectors.results import ProbeError, ProbeResult
from collectors.ssh import fingerprint, presented_fingerprint
from core import times
from core.audit import ChangeContext, record_change
from core.enums import ChangeAction
from core.times import now_utc
from inventory import service
from inventory.kinds import KINDS
from inventory.models import Device, ExtranetNode

# The reasons an SSH collection can fail (metric label values; bounded).
SSH_REASONS = (
    ProbeError.AUTH_FAILED,
    ProbeError.TIMEOUT,
    ProbeError.REFUSED,
    ProbeError.RESET,
    ProbeError.PARSE_ERROR,
    ProbeError.PROMPT_NOT_FOUND,
    ProbeError.PAGING_NOT_DISABLED,
    ProbeError.HOST_KEY_CHANGED,
    ProbeError.NO_CREDENTIAL,
    ProbeError.BAD_TARGET,
    ProbeError.ERROR,
)
EXCERPT_ERRORS = {ProbeError.PARSE_ERROR.value, ProbeError.PAGING_NOT_DISABLED.value}


def aware(t: datetime | None) -> datetime | None:
    return None if t is None else times.from_db(t)


def iso(t: datetime | None) -> str | None:
    return None if t is None else times.iso(t)


def known(session: Session, device_ids: Iterable[int]) -> dict[int, tuple[str | None, str | None]]:
    """Device id → (trusted host key, encoding seen last time), for building SSH targets."""
    q = select(DeviceCollectStatus).where(DeviceCollectStatus.device_id.in_(list(device_ids)))
    return {r.device_id: (r.host_key, r.encoding) for r in session.scalars(q)}


def record(session: Session, results: Sequence[ProbeResult]) -> None:
    """Write SSH outcomes: facts only when the session parsed; on failure the old facts stay, marked stale."""
    ids = [r.device_id for r in results if r.device_id is not None]
    rows = {
        r.device_id: r
        for r in session.scalars(select(DeviceCollectStatus).where(DeviceCollectStatus.device_id.in_(ids)))
    }
    has_facts = set(session.scalars(select(Device.id).where(Device.id.in_(ids), Device.facts.is_not(None))))
    for r in results:
        if r.device_id is None:
            continue
        row = rows.get(r.device_id)
        if row is None:
            row = rows[r.device_id] = DeviceCollectStatus(
                device_id=r.device_id, consecutive_failures=0, facts_stale=False
            )
            session.add(row)
        row.last_attempt_at = r.at
        if r.ok and r.facts is not None:
            service.set_device_facts(session, r.device_id, r.facts, r.at)
            row.last_success_at = r.at
            row.consecutive_failures = 0
            row.facts_stale = False
            row.encoding = r.encoding or row.encoding
            if row.host_key is None and r.host_key:
                row.host_key, row.host_key_seen_at = r.host_key, r.at  # trust on first use
            continue
        row.last_error_at = r.at
        row.last_error = r.error.value if r.error else ProbeError.ERROR.value
        row.last_error_detail = (r.detail or "")[:200] or None
        row.last_error_excerpt = r.excerpt if row.last_error in EXCERPT_ERRORS else None
        row.consecutive_failures = (row.consecutive_failures or 0) + 1
        row.facts_stale = r.device_id in has_facts
    session.flush()


def clear_host_key(session: Session, device_id: int, ctx: ChangeContext) -> dict[str, Any]:
    """Forget a device's trusted host key (after a legitimate change); the next session trusts the new one."""
    service.get_or_404(session, KINDS["devices"], device_id)
    row = session.get(DeviceCollectStatus, device_id)
    before = {"host_key_fingerprint": fingerprint(row.host_key) if row and row.host_key else None}
    if row is not None:
        row.host_key, row.host_key_seen_at = None, None
    record_change(session, ctx, "devices", device_id, ChangeAction.DECIDE, before, {"host_key_fingerprint": None})
    session.flush()
    return before


ENCODINGS = ("utf-8", "gbk", "gb18030")


def set_encoding(session: Session, device_id: int, encoding: str, ctx: ChangeContext) -> None:
    """The encoding to try first for this device's CLI output (UTF-8 then GBK stay the fallbacks)."""
    service.get_or_404(session, KINDS["devices"], device_id)
    row = session.get(DeviceCollectStatus, device_id)
    if row is None:
        row = DeviceCollectStatus(device_id=device_id, consecutive_failures=0, facts_stale=False)
        session.add(row)
    before = {"encoding": row.encoding}
    row.encoding = encoding
    record_change(session, ctx, "devices", device_id, ChangeAction.DECIDE, before, {"encoding": encoding})
    session.flush()


def describe(
    session: Session, device_ids: Sequence[int] | None = None, at: datetime | None = None
) -> list[dict[str, Any]]:
    """Per device: last success, last error and reason, facts age and staleness, host key fingerprint."""
    at = at or now_utc()
    q = (
        select(Device, DeviceCollectStatus, ExtranetNode.code)
        .join(DeviceCollectStatus, DeviceCollectStatus.device_id == Device.id, isouter=True)
        .join(ExtranetNode, ExtranetNode.id == Device.node_id)
        .order_by(Device.id)
    )
    if device_ids is not None:
        q = q.where(Device.id.in_(list(device_ids)))
    out = []
    for d, st, node_code in session.execute(q).tuples():
        facts_at = aware(d.facts_at)
        failing = (
            st is not None
            and st.last_error_at is not None
            and (
                st.last_success_at is None or aware(st.last_error_at) > aware(st.last_success_at)  # type: ignore[operator]
            )
        )
        out.append(
            {
                "id": d.id,
                "code": d.code,
                "node_id": d.node_id,
                "node": node_code,
                "device_type": d.device_type,
                "address": d.mgmt_address,
                "status": "never" if st is None else ("failing" if failing else "ok"),
                "last_attempt_at": iso(st.last_attempt_at) if st else None,
                "last_success_at": iso(st.last_success_at) if st else None,
                "last_error_at": iso(st.last_error_at) if st else None,
                "last_error": st.last_error if st else None,
                "last_error_detail": st.last_error_detail if st else None,
                "consecutive_failures": st.consecutive_failures if st else 0,
                "facts_at": iso(facts_at),
                "facts_age_seconds": round((at - facts_at).total_seconds(), 3) if facts_at else None,
                "facts_stale": bool(st.facts_stale) if st else False,
                "encoding": st.encoding if st else None,
                "host_key_fingerprint": fingerprint(st.host_key) if st and st.host_key else None,
                "host_key_seen_at": iso(st.host_key_seen_at) if st else None,
                # host_key_changed: the key the device offers instead (verify it, then clear the trusted one)
                "host_key_presented_fingerprint": (
                    presented_fingerprint(st.last_error_detail)
                    if failing and st is not None and st.last_error == ProbeError.HOST_KEY_CHANGED.value
                    else None
                ),
            }
        )
    return out


def facts(session: Session, device_id: int) -> dict[str, Any] | None:
    d = session.get(Device, device_id)
    return d.facts if d else None


def excerpt(session: Session, device_id: int) -> str | None:
    row = session.get(DeviceCollectStatus, device_id)
    return row.last_error_excerpt if row else None


@dataclass(frozen=True)
class DeviceRow:
    code: str
    node: str
    facts_at: datetime | None
    stale: bool
    last_error: str | None
    failing: bool


@dataclass
class DeviceView:
    """What the metrics read: per device facts time and state (refreshed after each SSH sweep), and
    collection errors counted by reason since the process started. A scrape runs no query."""

    rows: list[DeviceRow] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=lambda: {r.value: 0 for r in SSH_REASONS})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, results: Sequence[ProbeResult]) -> None:
        with self._lock:
            for r in results:
                if not r.ok:
                    key = r.error.value if r.error else ProbeError.ERROR.value
                    self.errors[key] = self.errors.get(key, 0) + 1

    def refresh(self, session: Session) -> None:
        rows = [
            DeviceRow(
                d["code"],
                d["node"],
                aware(datetime.fromisoformat(d["facts_at"])) if d["facts_at"] else None,
                d["facts_stale"],
                d["last_error"],
                d["status"] == "failing",
            )
            for d in describe(session)
        ]
        with self._lock:
            self.rows = rows

    def snapshot(self) -> tuple[list[DeviceRow], dict[str, int]]:
        with self._lock:
            return list(self.rows), dict(self.errors)
