"""The production topology of deploy/ on one machine, for tests/integration/platform/test_chaos.py.

A private RabbitMQ node (own node name, AMQP/distribution/CLI ports, cookie and data dir under the test's tmp dir —
never yunwang's shared node on 5673 nor the OpenStack broker on 5672), `yunwang serve` API processes and
`yunwang worker` processes; nginx running deploy/nginx/yunwang.conf is tests/live_nginx.py (shared with bench/). Every process is started in a session of its own, so a SIGKILL of its process group
kills it whole, like systemd's KillMode=control-group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[3]
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBITMQCTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
CTL_PORTS = (35740, 35750)  # rabbitmqctl's own distribution ports: not the shared node's (35700-35710)


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM the process group, SIGKILL after `timeout`; nothing of it is left running."""
    if proc is None:
        return
    if proc.poll() is None:
        _killpg(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    _killpg(proc, signal.SIGKILL)  # also what the leader left behind in its group
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def kill9(proc: subprocess.Popen[bytes]) -> None:
    _killpg(proc, signal.SIGKILL)
    proc.wait(10)


@dataclass
class Rabbit:
    """A private RabbitMQ node; `kill9()` then `start()` again restarts it on the same data dir."""

    base: Path
    node: str = field(default_factory=lambda: f"chaos{uuid.uuid4().hex[:6]}@localhost")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"  # the node's own default user, loopback only

    def env(self) -> dict[str, str]:
        b = self.base
        return {
            **os.environ,
            "HOME": str(b),  # the node's and rabbitmqctl's Erlang cookie: $HOME/.erlang.cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(CTL_PORTS[0]),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(CTL_PORTS[1]),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CONFIG_FILE": str(b / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(b / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(b / "mnesia"),
            "RABBITMQ_LOG_BASE": str(b / "log"),
            "RABBITMQ_PID_FILE": str(b / "rabbitmq.pid"),
        }

    def start(self, timeout: float = 90) -> float:
        """Start the node and wait until it accepts AMQP connections; the seconds it took."""
        b = self.base
        if self.starts == 0:
            (b / "mnesia").mkdir(parents=True)
            (b / "log").mkdir()
            b.chmod(0o700)
            cookie = b / ".erlang.cookie"
            cookie.write_text(uuid.uuid4().hex + uuid.uuid4().hex)
            cookie.chmod(0o400)
            (b / "rabbitmq.conf").write_text(
                f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users.guest = true\nlog.file.level = warning\n"
            )
            (b / "enabled_plugins").write_text("[].\n")
        t0 = time.monotonic()
        log = (b / "log" / f"server-{self.starts}.out").open("wb")
        self.proc = subprocess.Popen(
            [str(RABBITMQ_SERVER)], env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.starts += 1
        self.wait_up(t0 + timeout)
        return time.monotonic() - t0

    def wait_up(self, deadline: float) -> None:
        from kombu import Connection

        while True:
            assert self.proc is not None and self.proc.poll() is None, f"RabbitMQ exited: {self.log_tail()}"
            try:
                with Connection(self.url, connect_timeout=1) as c:
                    c.ensure_connection(max_retries=1)
                    return
            except Exception:  # not up yet
                pass
            assert time.monotonic() < deadline, f"RabbitMQ not up: {self.log_tail()}"
            time.sleep(0.3)

    def log_tail(self) -> str:
        out = sorted((self.base / "log").glob("server-*.out"))
        return out[-1].read_text(errors="replace")[-2000:] if out else ""

    def kill9(self) -> None:
        assert self.proc is not None
        kill9(self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(
                [str(RABBITMQCTL), "-n", self.node, "stop"],
                env=self.env(),
                capture_output=True,
                timeout=60,
                check=False,
            )
        stop(self.proc)


@dataclass
class Proc:
    """A `yunwang serve` or `yunwang worker` process; `restart()` is what systemd's Restart=always does."""

    name: str
    args: list[str]
    env: dict[str, str]
    work: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        log = (self.work / f"{self.name}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.app.cli", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def started_logs(self) -> list[str]:
        """The whole log of each start, oldest first."""
        return [p.read_text(errors="replace") for p in sorted(self.work.glob(f"{self.name}-*.log"))]

    def log(self) -> str:
        return "".join(p.read_text(errors="replace")[-2500:] for p in sorted(self.work.glob(f"{self.name}-*.log")))


def wait_http(url: str, what: str, timeout: float, logs: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{what} not up within {timeout} s\n{logs[-3000:]}"
        time.sleep(0.2)
