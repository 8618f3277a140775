"""A live yunwang (uvicorn subprocess on 127.0.0.1) on the `any_db` database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import Database
from tests.live_server import LiveServer

pytestmark = pytest.mark.integration


@pytest.fixture
def live(any_db: Database, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer.start(any_db.url, tmp_path / "live", factory="tests.live_server:app_with_faults")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_sqlite(db: Database, tmp_path: Path) -> Iterator[LiveServer]:
    """The same on SQLite only, with a 2 KiB upload limit (to reach 413 cheaply)."""
    server = LiveServer.start(
        db.url,
        tmp_path / "live",
        factory="tests.live_server:app_with_faults",
        env={"YUNWANG_MAX_UPLOAD_BYTES": "2048"},
    )
    try:
        yield server
    finally:
        server.stop()
