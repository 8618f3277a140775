"""Platform tables: the audit log (who changed or decided what, when), API tokens, job runs and job leases,
accounts with their sessions and single sign-on flows (core's own version branch, core/migrations/versions).

The tables were created by the schema revisions of the packages that used to own them (inventory:
`change_log`, `api_tokens`; collectors: `collector_job_runs`; orchestrator: `job_leases`), and their later
revisions stay on those version branches: each table says so in `info["package"]`, which the one alembic
environment (core/migrations/env.py) reads before the model's module; names are unchanged; `api_tokens.unit_id`
refers to the inventory's `units` table by name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, enum_type
from core.enums import ChangeAction, Role


class ChangeLog(Base):
    """One row per change or decision: who, when, before/after snapshots. Append-only."""

    __tablename__ = "change_log"
    __table_args__ = (
        Index("ix_change_log_kind_object_at", "kind", "object_id", "at"),
        Index("ix_change_log_kind_role_object", "kind", "actor_role", "object_id"),  # self-declared (rates)
        {"info": {"package": "inventory"}},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column(Integer)
    object_code: Mapped[str | None] = mapped_column(String(90))
    action: Mapped[ChangeAction] = mapped_column(enum_type(ChangeAction))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the role and unit scope decide what it may do."""

    __tablename__ = "api_tokens"
    __table_args__ = {"info": {"package": "inventory"}}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # The account (its username_key) this token acts for: the person's one identity for segregation of duties,
    # whichever way they sign in; None for a token that is an identity of its own (an integration).
    owner_key: Mapped[str | None] = mapped_column(String(100))


class JobRun(Base):
    """One run of a scheduled or manual job, with its outcome (the API shows the last error)."""

    __tablename__ = "collector_job_runs"
    __table_args__ = (
        Index("ix_collector_job_runs_job_started", "job_id", "started_at"),
        {"info": {"package": "collectors"}},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | manual
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    targets: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class JobLease(Base):
    """Who runs a scheduled job now (core/jobs.py): one row per job, taken in a write transaction.

    Several service processes on one database share the APScheduler job store, so each may fire the same
    job; only the one that takes the lease runs it. The lease expires unless its holder renews it. Work that
    must have one driver at a time holds a row too (`core.jobs.hold`, e.g. `provision:<request>@<cloud>`, no run id).
    """

    __tablename__ = "job_leases"
    __table_args__ = {"info": {"package": "orchestrator"}}
    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))  # host:pid:instance of the running process
    run_id: Mapped[int | None] = mapped_column(Integer)  # the collector_job_runs row of the current run
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Account(Base):
    """A person who signs in to the console: a local password (argon2id hash) or single sign-on (OIDC).

    `username_key` is `core.identity.identity_key(username)`: unique, and never the key of an API token's
    name (names identify people for segregation of duties). Scoped roles need a unit, as tokens do.
    """

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    username_key: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    source: Mapped[str] = mapped_column(String(8), default="local")  # local | oidc
    oidc_issuer: Mapped[str | None] = mapped_column(String(300))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_accounts_oidc"),)


class AuthSession(Base):
    """A signed-in browser: only SHA-256 hashes of the session id and its CSRF token are stored."""

    __tablename__ = "auth_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # absolute timeout


class OidcFlow(Base):
    """A single sign-on under way: state (hashed), nonce and PKCE verifier, used once by the callback."""

    __tablename__ = "oidc_flows"
    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
