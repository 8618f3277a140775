"""`yunwang demo` end to end: load into a fresh store, then the real service answers on a free local port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

YUNWANG = Path(sys.executable).parent / "yunwang"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"service exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"service did not become healthy: {log.read_text(errors='replace')[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("serve_with", ["serve", "demo"])
def test_demo_then_serve_answers_authenticated_lists(tmp_path: Path, serve_with: str) -> None:
    env = {
        **os.environ,
        "YUNWANG_DATABASE_URL": f"sqlite:///{tmp_path / 'yunwang.db'}",
        "YUNWANG_DATA_DIR": str(tmp_path / "data"),
        "YUNWANG_SCHEDULER_ENABLED": "false",
        "YUNWANG_PORT": str(free_port()),  # `demo --no-serve` checks its port too
    }
    load = subprocess.run(
        [str(YUNWANG), "demo", "--no-serve", "--scale", "0.05"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert load.returncode == 0, load.stdout + load.stderr
    tokens = {
        line.split("\t")[0]: line.split("\t")[3]
        for line in (tmp_path / "data" / "demo-tokens.txt").read_text().splitlines()
        if not line.startswith("#")
    }
    port = free_port()
    cmd = [str(YUNWANG), serve_with, "--host", "127.0.0.1", "--port", str(port)]
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, tmp_path / "service.log")
        if serve_with == "demo":  # a second `demo` keeps the data but re-issues the tokens
            tokens = {
                line.split("\t")[0]: line.split("\t")[3]
                for line in (tmp_path / "data" / "demo-tokens.txt").read_text().splitlines()
                if not line.startswith("#")
            }
        assert httpx.get(f"{base}/api/v1/inventory/systems", timeout=10).status_code == 401
        auth = {"Authorization": f"Bearer {tokens['auditor']}"}
        resp = httpx.get(
            f"{base}/api/v1/inventory/systems", params={"status": "migrated", "limit": 5}, headers=auth, timeout=10
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["total"] > 0 and all(i["status"] == "migrated" for i in body["items"])
        nodes = httpx.get(f"{base}/api/v1/inventory/extranet_nodes", params={"level": "city"}, headers=auth, timeout=10)
        assert nodes.json()["total"] == 14
        scoped = {"Authorization": f"Bearer {tokens['department_user']}"}
        mine = httpx.get(f"{base}/api/v1/inventory/systems", params={"limit": 1000}, headers=scoped, timeout=10).json()
        everything = httpx.get(f"{base}/api/v1/inventory/systems", headers=auth, timeout=10).json()
        assert 0 < mine["total"] < everything["total"]
    finally:
        stop(proc)
        log.close()
    assert proc.returncode is not None
    service_log = (tmp_path / "service.log").read_text(errors="replace")
    # `demo` prints the admin token once on purpose; nothing else ever shows a token.
    printed = {"admin"} if serve_with == "demo" else set()
    assert all(service_log.count(tok) == (role in printed) for role, tok in tokens.items())
