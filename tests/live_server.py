"""A real yunwang under uvicorn in a subprocess on a free 127.0.0.1 port (tests/integration/platform, bench/).

`LiveServer.start(db_url, work_dir)` runs `uvicorn <factory> --factory`; the default factory is the real app,
`tests.live_server:app_with_faults` adds one route that raises (to see what a 500 does to the connection).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from core.permissions import PUBLIC

ROOT = Path(__file__).resolve().parents[1]
BOOM_PATH = "/api/v1/test-only/boom"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def app_with_faults() -> FastAPI:
    """The real app plus a route that fails with an unhandled exception (test servers only)."""
    from orchestrator.app.factory import create_app
    from orchestrator.app.permission_table import PERMISSIONS

    PERMISSIONS[("GET", BOOM_PATH)] = PUBLIC  # this server process only
    app = create_app()

    @app.get(BOOM_PATH, include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("boom: an unhandled error with yw_secretsecretsecret inside")

    return app


@dataclass
class LiveServer:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @classmethod
    def start(
        cls,
        db_url: str,
        work: Path,
        factory: str = "orchestrator.app.factory:create_app",
        env: dict[str, str] | None = None,
        timeout: float = 60,
        port: int | None = None,
        argv: Sequence[str] | None = None,
    ) -> LiveServer:
        """Start and wait for `/healthz`. `argv`: the Python program and its arguments before `--host/--port`
        (default `-m uvicorn <factory> --factory`; e.g. a wrapper script taking the arguments of `yunwang serve`)."""
        port = port or free_port()
        program = list(argv) if argv is not None else ["-m", "uvicorn", factory, "--factory"]
        work.mkdir(parents=True, exist_ok=True)
        full_env = {
            **os.environ,
            "YUNWANG_DATABASE_URL": db_url,
            "YUNWANG_DATA_DIR": str(work / "data"),
            "YUNWANG_SCHEDULER_ENABLED": "false",
            "YUNWANG_METRICS_RECOMPUTE_SECONDS": "3600",
            **(env or {}),
        }
        log_path = work / f"server-{port}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *program, "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls(proc, f"http://127.0.0.1:{port}", log_path)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}: {server.log()[-3000:]}")
            try:
                if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise AssertionError(f"server did not start within {timeout} s: {server.log()[-3000:]}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
