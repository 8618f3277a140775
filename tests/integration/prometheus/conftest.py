"""Prometheus and promtool from Debian's `prometheus` package (installed by tests/env/setup-30-prometheus.sh)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = ROOT / "dashboards" / "rules"


def _binary(env: str, name: str) -> str:
    found = os.environ.get(env) or shutil.which(name)
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Prometheus tests, but {name} is missing (tests/env/setup-30-prometheus.sh)")
        pytest.skip(f"{name} not installed: run tests/env/setup-30-prometheus.sh as root (Debian package prometheus)")
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    return _binary("YUNWANG_TEST_PROMTOOL", "promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _binary("YUNWANG_TEST_PROMETHEUS", "prometheus")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each is stopped at the end, newest first."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in reversed(procs):
        stop(p)
