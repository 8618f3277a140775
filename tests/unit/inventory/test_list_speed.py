"""What one list request asks of the database: its connection checkouts and its statements (docs/LISTS.md, "Speed").

Counted by hand from the request's path: the token lookup (authentication), the total (PostgreSQL: the trigger-kept
row counts; SQLite, or a scoped caller: a count), the page, and the page's links in one statement. Every request gives
its connection back after authentication and takes one again for the route (two checkouts): no request holds a pooled
connection while it waits for a handler thread (the last test). On PostgreSQL a GET's statements run in autocommit
(no BEGIN, no ROLLBACK).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import event

from core.db import Database
from core.enums import Role
from core.identity import create_token
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


def test_more_requests_than_connections_all_answer(any_db: Database, tmp_path: Path) -> None:
    """120 requests at once on 4 handler threads, more than the pool's 20 connections (review: ending the session in a
    handler thread let finished requests hold every connection while the threads waited in the pool for one — 30 s
    stalls, then 500 "QueuePool limit … timed out"). The session ends outside the handler threads, as FastAPI ends a
    sync generator dependency."""
    import asyncio
    import time

    import httpx

    from core.threads import limit_handlers

    with any_db.session() as s:
        Inv(s).basic()
        token = create_token(s, "flood-admin", Role.ADMIN)
    settings = Settings(database_url=any_db.url, data_dir=tmp_path / "data", scheduler_enabled=False)
    app = create_app(settings, registry=CollectorRegistry(), database=any_db)

    async def flood() -> list[int]:
        limit_handlers(4)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers, timeout=60) as c:
            answers = await asyncio.wait_for(asyncio.gather(*(c.get(f"{API}/systems") for _ in range(120))), 60)
        return [r.status_code for r in answers]

    started = time.monotonic()
    statuses = asyncio.run(flood())
    took = time.monotonic() - started
    assert statuses == [200] * 120, sorted(set(statuses))
    assert took < 25, took  # the pool's checkout timeout is 30 s: a stall shows as ≥ 30 s
    assert any_db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
