"""Alertmanager and amtool from Debian's `prometheus-alertmanager` (tests/env/setup-35-alertmanager.sh), Prometheus
from Debian's `prometheus` (tests/env/setup-30-prometheus.sh). Each test starts its own processes on free 127.0.0.1
ports with temporary storage and stops them at the end."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.prometheus.conftest import _binary, stop

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def amtool() -> str:
    return _binary("YUNWANG_TEST_AMTOOL", "amtool")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return _binary("YUNWANG_TEST_ALERTMANAGER", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _binary("YUNWANG_TEST_PROMETHEUS", "prometheus")


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each is stopped at the end, newest first."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in reversed(procs):
        stop(p)
