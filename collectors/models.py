"""Collector tables: probe history (bounded), node state periods (availability), job runs, credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, enum_type
from inventory.enums import NodeState


class ProbeRecord(Base):
    """One probe result (kept `collector_history_hours`); the newest per target feeds the API."""

    __tablename__ = "collector_probe_records"
    __table_args__ = (Index("ix_collector_probe_records_node_kind_at", "node_id", "kind", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    vantage: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    port: Mapped[int | None] = mapped_column(Integer)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("extranet_nodes.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(200))
    loss_ratio: Mapped[float | None] = mapped_column(Float)
    rtt_avg_seconds: Mapped[float | None] = mapped_column(Float)
    rtt_max_seconds: Mapped[float | None] = mapped_column(Float)


class NodeStatePeriod(Base):
    """A node was in `state` from `since` until `until` (open while current): availability comes from these."""

    __tablename__ = "collector_node_state_periods"
    __table_args__ = (Index("ix_collector_node_state_periods_node_since", "node_id", "since"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("extranet_nodes.id", ondelete="CASCADE"))
    state: Mapped[NodeState] = mapped_column(enum_type(NodeState))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeviceCredential(Base):
    """A named device credential; the password (and enable secret) only as Fernet ciphertext."""

    __tablename__ = "collector_credentials"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    username: Mapped[str] = mapped_column(String(100))
    encrypted: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SnmpDevice(Base):
    """How to poll one device over SNMP: version, credential reference (never the secret), port, uplinks."""

    __tablename__ = "collector_snmp_devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), unique=True)
    version: Mapped[str] = mapped_column(String(2))  # 2c | 3
    credential_ref: Mapped[str] = mapped_column(String(100))
    port: Mapped[int] = mapped_column(Integer, default=161)
    uplinks: Mapped[str] = mapped_column(String(400), default="")  # interface names, comma-separated
    auth_protocol: Mapped[str] = mapped_column(String(8), default="SHA")
    priv_protocol: Mapped[str] = mapped_column(String(8), default="AES")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SnmpInterface(Base):
    """The newest poll of one interface: counters (64-bit, as text), the rates since the poll before, status."""

    __tablename__ = "collector_snmp_interfaces"
    __table_args__ = (UniqueConstraint("device_id", "if_index", name="uq_collector_snmp_interfaces_device_if"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    if_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    is_uplink: Mapped[bool] = mapped_column(Boolean, default=False)
    oper_up: Mapped[bool] = mapped_column(Boolean)
    speed_bps: Mapped[float] = mapped_column(Float)
    in_octets: Mapped[str] = mapped_column(String(20))  # Counter64 does not fit a signed BIGINT
    out_octets: Mapped[str] = mapped_column(String(20))
    in_errors: Mapped[int] = mapped_column(BigInteger)
    out_errors: Mapped[int] = mapped_column(BigInteger)
    in_discards: Mapped[int] = mapped_column(BigInteger)
    out_discards: Mapped[int] = mapped_column(BigInteger)
    uptime_seconds: Mapped[float] = mapped_column(Float)
    sampled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    in_bps: Mapped[float | None] = mapped_column(Float)
    out_bps: Mapped[float | None] = mapped_column(Float)
    utilisation: Mapped[float | None] = mapped_column(Float)


class DeviceCollectStatus(Base):
    """Per device, the outcome of SSH collection: last success, last error and why, stale facts, host key.

    `host_key` is trusted on first use; a device presenting another key is refused (host_key_changed)
    until an operator clears it. `encoding` is the one its CLI output decoded with (utf-8 or gbk).
    """

    __tablename__ = "collector_device_status"
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(32))
    last_error_detail: Mapped[str | None] = mapped_column(String(200))
    last_error_excerpt: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    facts_stale: Mapped[bool] = mapped_column(Boolean, default=False)
    encoding: Mapped[str | None] = mapped_column(String(16))
    host_key: Mapped[str | None] = mapped_column(Text)
    host_key_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
