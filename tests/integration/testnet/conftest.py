"""The extranet test network (tests/env/testnet): brought up by tests/env/setup-20-testnet.sh, or here when
run alone as root. Every probe goes to 172.20.0.0/14, blackholed in the host namespace except via the testnet."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import Database
from orchestrator.app.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.network]
UP_SH = Path(__file__).resolve().parents[2] / "env" / "testnet" / "up.sh"
DOWN_SH = UP_SH.with_name("down.sh")


@pytest.fixture(scope="session")
def testnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The device password of a running test network."""
    if os.geteuid() != 0:
        pytest.skip("not root: the extranet test network needs root to build network namespaces")
    password = os.environ.get("YUNWANG_TESTNET_PASSWORD")
    if password:
        yield password
        return
    password = "Yw-t3stnet-" + secrets.token_hex(6)
    env = {**os.environ, "STATE": str(tmp_path_factory.mktemp("testnet"))}
    subprocess.run(["bash", str(UP_SH), password], check=True, env=env, capture_output=True)
    try:
        yield password
    finally:
        subprocess.run(["bash", str(DOWN_SH)], env=env, capture_output=True)


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(
        database_url=db.url,
        data_dir=tmp_path / "data",
        scheduler_enabled=False,
        collector_vantage="test-vantage",
        collector_icmp_count=20,
        collector_icmp_packet_interval_seconds=0.02,
        collector_icmp_timeout_seconds=1.0,
        collector_tcp_timeout_seconds=1.0,
        collector_ssh_timeout_seconds=2.5,
        collector_retries=0,
        collector_ssh_concurrency=20,
    )
