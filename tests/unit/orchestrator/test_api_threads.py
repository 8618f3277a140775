"""YUNWANG_API_THREADS: how many sync request handlers one API process runs at once (docs/LISTS.md, "Speed")."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.db import Database
from core.enums import Role
from core.permissions import PUBLIC
from inventory.io import exporting
from orchestrator.app.factory import create_app
from orchestrator.app.permission_table import PERMISSIONS
from orchestrator.app.settings import Settings


def _most_at_once(settings: Settings, db: Database, requests: int) -> tuple[int, list[int]]:
    """Send `requests` requests at once to a sync route that takes 0.3 s; how many ran at the same time."""
    app = create_app(settings, registry=CollectorRegistry(), database=db)
    lock, running, most = threading.Lock(), [0], [0]

    @app.get("/api/v1/test-slow")
    def slow() -> dict[str, int]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return {"ok": 1}

    with TestClient(app) as client, ThreadPoolExecutor(requests) as pool:
        statuses = list(pool.map(lambda _: client.get("/api/v1/test-slow").status_code, range(requests)))
    return most[0], statuses


@pytest.mark.parametrize(("threads", "expected"), [(2, 2), (4, 4)])
def test_at_most_api_threads_handlers_run_at_once(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch, threads: int, expected: int
) -> None:
    monkeypatch.setitem(PERMISSIONS, ("GET", "/api/v1/test-slow"), PUBLIC)
    most, statuses = _most_at_once(settings.model_copy(update={"api_threads": threads}), db, requests=8)
    assert statuses == [200] * 8  # the others waited their turn, none was refused
    assert most == expected


def test_the_default_is_anyios_forty() -> None:
    """Fewer threads serve more list requests/s, but any request that waits (a writer queued behind an import, a
    silent broker or sign-on provider) then holds a thread: with 4, four such requests stalled the whole process."""
    assert Settings().api_threads == 40


def test_a_long_export_does_not_hold_the_handler_threads(
    settings: Settings, db: Database, token_for: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one handler thread, two exports that have not finished still leave room for a list request: the files are
    made in the long-work pool (core/threads.py), not in the handler threads."""
    release, started = threading.Event(), threading.Semaphore(0)

    def stuck_export(*args: Any) -> bytes:
        started.release()
        assert release.wait(60), "the test never released the export"
        return b"code\n"

    monkeypatch.setattr(exporting, "export_file", stuck_export)
    app = create_app(settings.model_copy(update={"api_threads": 1}), registry=CollectorRegistry(), database=db)
    headers = {"Authorization": f"Bearer {token_for(Role.ADMIN)}"}
    with TestClient(app) as client, ThreadPoolExecutor(3) as pool:
        exports = [
            pool.submit(client.get, "/api/v1/inventory/regions/export?format=csv", headers=headers) for _ in range(2)
        ]
        try:
            for _ in range(2):
                assert started.acquire(timeout=30), "an export never started"
            listed = pool.submit(client.get, "/api/v1/inventory/regions", headers=headers)
            while_exporting = listed.result(timeout=30)  # TimeoutError: the list request waited behind the exports
        finally:
            release.set()
        assert while_exporting.status_code == 200
        assert [f.result(timeout=30).status_code for f in exports] == [200, 200]


def test_async_routes_are_the_reviewed_few(app: Any) -> None:
    """An `async def` route runs on the event loop: any database, broker or file I/O there stalls every request of
    the process. Each of these hands its I/O to a thread (run_long / run_in_threadpool); a new one must too."""

    # walked as the permission matrix walks them (FastAPI's included routers keep their own route lists)
    routes: list[tuple[Any, str | None]] = [(rc.original_route, rc.path) for rc in iter_route_contexts(app.routes)]
    async_routes = sorted(
        f"{sorted(r.methods)[0]} {path or r.path}"
        for r, path in routes
        if inspect.iscoroutinefunction(getattr(r, "endpoint", None)) and getattr(r, "methods", None)
    )
    assert len(routes) > 200  # every route was looked at
    assert async_routes == sorted(
        [
            "GET /api/v1/inventory/{kind}/export",
            "GET /api/v1/plan/waves/{plan_id}/export.xlsx",
            "POST /api/v1/inventory/{kind}/import",
            "POST /api/v1/plan/waves/export.xlsx",
            "GET /openapi.json",  # FastAPI's own: the schema it built at start-up, no I/O
        ]
    )


def test_an_async_import_submits_its_job_off_the_event_loop(admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.responses import JSONResponse

    from inventory.io import api as io_api

    seen: list[bool] = []

    def submitted(*args: Any) -> JSONResponse:
        try:
            asyncio.get_running_loop()
            seen.append(True)  # on the event loop: a silent broker would stall every request
        except RuntimeError:
            seen.append(False)
        return JSONResponse({"job": {}}, status_code=202)

    monkeypatch.setattr(io_api, "_submitted", submitted)
    files = {"file": ("regions.csv", b"code,name\nR-X,X\n", "text/csv")}
    resp = admin.post("/api/v1/inventory/regions/import", files=files, headers={"Prefer": "respond-async"})
    assert resp.status_code == 202
    assert seen == [False]
