"""A real yunwang (uvicorn subprocess on a free 127.0.0.1 port, SQLite with a known inventory) and Debian's
Chromium driven by Playwright (never `playwright install`; tests/env/setup-40-chromium.sh installs chromium)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.db import Database
from core.enums import Role
from core.identity import create_token
from orchestrator.app import schema as dbschema
from tests import report_inventory
from tests.live_server import LiveServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("YUNWANG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Server:
    """A running yunwang: its base URL and a cloud-chief-office token."""

    url: str
    token: str
    ids: dict[str, int]
    db_url: str = ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`yunwang serve` on SQLite with tests/report_inventory.py loaded, stopped after the module."""
    work = tmp_path_factory.mktemp("office")
    url = f"sqlite:///{work / 'yunwang.db'}"
    dbschema.upgrade(url)
    db = Database(url)
    with db.session() as s:
        ids = report_inventory.build(s)
    with db.session() as s:
        token = create_token(s, "office-browser-test", Role.CLOUD_CHIEF_OFFICE)
    db.dispose()
    live = LiveServer.start(url, work, env={"YUNWANG_LOG_LEVEL": "WARNING"})
    try:
        yield Server(live.url, token, ids, url)
    finally:
        live.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium; missing it fails as root (the setup script installs it) and skips otherwise."""
    if not Path(CHROMIUM).exists():
        if os.geteuid() == 0 or os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: tests/env/setup-40-chromium.sh should have installed chromium")
        pytest.skip(f"{CHROMIUM} not installed and not root: run tests/env/setup-40-chromium.sh as root")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """A Playwright browser on Debian's Chromium (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
