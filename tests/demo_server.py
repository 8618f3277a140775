"""The real `yunwang demo` in a subprocess on a free 127.0.0.1 port, in its own directory (database, data dir, log).

Used by tests/integration/test_demo_story.py and tests/integration/test_docs_examples.py: the demo as users start
it (the in-memory demo cloud, the demo inventory, tokens in `<data dir>/demo-tokens.txt`), nothing patched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.live_server import free_port

YUNWANG = Path(sys.executable).parent / "yunwang"


def demo_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment of a demo living in `work` (SQLite file, data dir)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNWANG_")}
    return {
        **env,
        "YUNWANG_DATABASE_URL": f"sqlite:///{work / 'yunwang.db'}",
        "YUNWANG_DATA_DIR": str(work / "data"),
        "YUNWANG_PORT": str(free_port()),  # `demo --no-serve` checks its port too: never the user's 8080
        **extra,
    }


def read_tokens(work: Path) -> dict[str, str]:
    """role → token from the demo's token file."""
    lines = (work / "data" / "demo-tokens.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0]: line.split("\t")[3] for line in lines if line and not line.startswith("#")}


@dataclass
class DemoServer:
    proc: subprocess.Popen[bytes]
    work: Path
    port: int
    env: dict[str, str]
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, work: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> DemoServer:
        """`yunwang demo --port <free> <args>` in `work`; returns once /healthz answers."""
        work.mkdir(parents=True, exist_ok=True)
        port = free_port()
        full_env = demo_env(work, **(env or {}))
        log_path = work / f"demo-{port}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(YUNWANG), "demo", "--host", "127.0.0.1", "--port", str(port), *args],
                cwd=work,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls(proc, work, port, full_env, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited with {proc.returncode}: {server.log()[-3000:]}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                    server.tokens = read_tokens(work)
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        server.stop()
        raise AssertionError(f"demo did not become healthy: {server.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=30.0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
