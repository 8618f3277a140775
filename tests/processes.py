"""Helper processes of the integration tests (workers, socat bridges): started in their own session with their
output in a log file, waited for, and stopped with their whole process group — one way, for every test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any


def start(args: Sequence[str], log: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """`args` in a new session (its own process group), stdout and stderr into `log`."""
    out = open(log, "wb")  # noqa: SIM115 (the child holds it; closed with the process)
    try:
        return subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen)
    finally:
        out.close()  # the child has its own descriptor


def wait_until(ready: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    """Poll `ready` until it is true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(every)


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def stop(procs: Iterable[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    """SIGTERM each process group (a worker finishes its task), SIGKILL after `timeout`; none is left running."""
    for p in procs:
        if p.poll() is None:
            _killpg(p, signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _killpg(p, signal.SIGKILL)
                p.wait(timeout=5)
