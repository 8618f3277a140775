"""What one list request asks of the database: its connection checkouts and its statements (docs/LISTS.md, "Speed").

Counted by hand from the request's path: the token lookup (authentication), the total (PostgreSQL: the trigger-kept
row counts; SQLite, or a scoped caller: a count), the page, and the page's links in one statement. Every request gives
its connection back after authentication and takes one again for the route (two checkouts): no request holds a pooled
connection while it waits for a handler thread (the last test). On PostgreSQL a GET's statements run in autocommit
(no BEGIN, no ROLLBACK).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import event, select

from core import accounts, sessions
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.models import AuthSession
from core.sessions import AuthConfig
from core.threads import limit_handlers
from core.times import from_db, now_utc
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

API = "/api/v1/inventory"


@pytest.fixture
def listing(any_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Database, dict[str, str]]]:
    """Two systems of the region unit (one depends on the other), one of the county unit; an admin and a
    department user of the county unit. No lifespan: no background job shares the counted engine."""
    with any_db.session() as s:
        i = Inv(s)
        b = i.basic()
        first = i.system(b["unit"], room_id=b["room"], code="SYS-A")
        i.system(b["unit"], room_id=b["room"], code="SYS-B", depends_on_ids=[first])
        county_room = i.room(b["county_unit"], b["county"])
        i.system(b["county_unit"], room_id=county_room, code="SYS-C")
        tokens = {
            "admin": create_token(s, "speed-admin", Role.ADMIN),
            "department": create_token(s, "speed-dept", Role.DEPARTMENT_USER, b["county_unit"]),
        }
    settings = Settings(database_url=any_db.url, data_dir=tmp_path / "data", scheduler_enabled=False)
    app = create_app(settings, registry=CollectorRegistry(), database=any_db)
    yield TestClient(app), any_db, tokens


def counted(db: Database, call: Any) -> tuple[Any, int, list[str]]:
    """The call's result, its connection checkouts and its queries; on PostgreSQL every query of a GET request runs
    outside a transaction (autocommit: no BEGIN/ROLLBACK round trips)."""
    checkouts: list[int] = []
    statements: list[str] = []
    in_transaction: list[str] = []

    def checkout(*_: Any) -> None:
        checkouts.append(1)

    def before(conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):  # queries (SQLite's BEGIN is an execute too)
            statements.append(statement)
            if db.url.startswith("postgresql") and not conn.connection.dbapi_connection.autocommit:
                in_transaction.append(statement)

    event.listen(db.engine.pool, "checkout", checkout)
    event.listen(db.engine, "before_cursor_execute", before)
    try:
        result = call()
    finally:
        event.remove(db.engine.pool, "checkout", checkout)
        event.remove(db.engine, "before_cursor_execute", before)
    assert in_transaction == []
    return result, len(checkouts), statements


def test_a_list_request_checks_out_twice_and_runs_four_statements(
    listing: tuple[TestClient, Database, dict[str, str]],
) -> None:
    client, db, tokens = listing
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    resp, checkouts, statements = counted(db, lambda: client.get(f"{API}/systems", headers=headers))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == 3 and [item["code"] for item in body["items"]] == ["SYS-A", "SYS-B", "SYS-C"]
    assert body["items"][1]["depends_on_ids"] == [body["items"][0]["id"]]
    assert checkouts == 2
    assert len(statements) == 4, statements  # token, total, page, links


def test_a_scoped_list_request_adds_only_its_unit_subtree(
    listing: tuple[TestClient, Database, dict[str, str]],
) -> None:
    client, db, tokens = listing
    headers = {"Authorization": f"Bearer {tokens['department']}"}
    resp, checkouts, statements = counted(db, lambda: client.get(f"{API}/systems", headers=headers))
    assert resp.status_code == 200, resp.text
    assert [item["code"] for item in resp.json()["items"]] == ["SYS-C"] and resp.json()["total"] == 1
    assert checkouts == 2
    assert len(statements) == 5, statements  # token, unit subtree, count, page, links


def test_ten_requests_at_once_reuse_pooled_connections(any_db: Database) -> None:
    """Ten requests at once (10 clients on one API process) hold ten connections; the next ten reuse them. With
    SQLAlchemy's default pool (5 kept) five were opened and closed again each time: on SQLite each new connection
    read its pages cold, on PostgreSQL each was a new server process, a quarter of a list request's CPU."""
    opened: list[int] = []

    def connect(*_: Any) -> None:
        opened.append(1)

    event.listen(any_db.engine.pool, "connect", connect)
    try:
        for _ in range(3):
            held = [any_db.engine.connect() for _ in range(10)]
            for conn in held:
                conn.close()
    finally:
        event.remove(any_db.engine.pool, "connect", connect)
    assert len(opened) <= 10  # the first ten (fewer when the fixture's own connections are still pooled)


def flood(db: Database, tmp_path: Path, threads: int, requests: list[dict[str, str]]) -> tuple[list[int], float]:
    """All `requests` (their headers) at once against one app on `threads` handler threads: statuses, seconds."""
    settings = Settings(database_url=db.url, data_dir=tmp_path / "data", scheduler_enabled=False)
    app = create_app(settings, registry=CollectorRegistry(), database=db)

    async def run() -> list[int]:
        limit_handlers(threads)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=90) as c:
            answers = await asyncio.wait_for(
                asyncio.gather(*(c.get(f"{API}/systems", headers=h) for h in requests)), 75
            )
        return [r.status_code for r in answers]

    started = time.monotonic()
    statuses = asyncio.run(run())
    return statuses, time.monotonic() - started


def test_more_requests_than_connections_all_answer(any_db: Database, tmp_path: Path) -> None:
    """120 requests at once on 4 handler threads, more than the pool's 20 connections (review: ending the session in a
    handler thread let finished requests hold every connection while the threads waited in the pool for one — 30 s
    stalls, then 500 "QueuePool limit … timed out"). The session ends outside the handler threads, as FastAPI ends a
    sync generator dependency, and gives its connection back after authentication."""
    with any_db.session() as s:
        Inv(s).basic()
        token = create_token(s, "flood-admin", Role.ADMIN)
    statuses, took = flood(any_db, tmp_path, 4, [{"Authorization": f"Bearer {token}"}] * 120)
    assert statuses == [200] * 120, sorted(set(statuses))
    assert took < 25, took  # the pool's checkout timeout is 30 s: a stall shows as ≥ 30 s
    assert any_db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_signed_in_browsers_back_after_a_minute_all_answer(any_db: Database, tmp_path: Path) -> None:
    """150 browser sessions idle for two minutes, one GET each at once, on 40 handler threads: each writes its last-seen
    time through a second session. Holding the read connection meanwhile (review) let 20 threads each hold one
    connection and wait for another — 30 s, then 500s on PostgreSQL."""
    with any_db.session() as s:
        Inv(s).basic()
        ctx = ChangeContext(actor="setup", role="admin")
        account = accounts.create(s, ctx, accounts.NewAccount("flood.admin", Role.ADMIN, password="Flood-pass-2026!"))
        aged = now_utc() - timedelta(minutes=2)
        sids = [sessions.start(s, account, AuthConfig(), aged).session_id for _ in range(150)]
    cookies = [{"Cookie": f"{sessions.SESSION_COOKIE}={sid}"} for sid in sids]
    statuses, took = flood(any_db, tmp_path, 40, cookies)
    assert statuses == [200] * 150, sorted(set(statuses))
    assert took < 25, took
    assert any_db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with any_db.read_session() as s:
        seen = s.scalars(select(AuthSession.last_seen_at)).all()
    assert len(seen) == 150 and all(from_db(t) > aged + timedelta(seconds=30) for t in seen)  # every one touched
