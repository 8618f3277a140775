"""SSH CLI collection with netmiko; facts parsed by collectors.device_facts.

The only module that imports netmiko. netmiko is blocking, so devices run on a bounded thread pool.
Transient failures (timeouts, resets) are retried; an authentication failure or a changed host key never is.

- Host keys: trusted on first use. The key a device presented is returned in the result and stored per
  device by the runner; later sessions load it as the only known key, so paramiko refuses a different key
  before the password is sent (`host_key_changed`).
- Nothing leaks: the connection is opened by us (`auto_connect=False`) inside try/finally, so a device that
  accepts the login and then hangs has its socket, paramiko transport thread and descriptor closed.
- Encodings: the channel is read as latin-1 (one character per byte, so a multi-byte character split
  across packets is never dropped), then decoded as the device's known encoding, else UTF-8, else GBK.
- Paging: each command also stops at `---- More ----` / `--More--`; seeing it means paging was left on.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import paramiko
from netmiko import ConnectHandler
from netmiko.base_connection import BaseConnection
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadException,
    ReadTimeout,
)
from paramiko.ssh_exception import AuthenticationException, BadHostKeyException, SSHException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from collectors import device_facts
from collectors.credentials import Credential
from collectors.device_facts import PLATFORMS, ParseFailure, Platform
from collectors.results import ProbeError, ProbeKind, ProbeResult

ENCODINGS = ("utf-8", "gbk")
MORE = re.compile(r"-{2,}\s*More\s*-{2,}|<--- More --->|\(Q to quit\)", re.I)
NETMIKO_LOG = logging.getLogger("netmiko")


class EmptyOutput(Exception):
    """A command came back empty: the session lost its place (seen under heavy load); worth a retry."""


class PagingNotDisabled(Exception):
    """Output stopped at a `---- More ----` prompt: the device kept paging on."""

    def __init__(self, command: str, excerpt: str) -> None:
        super().__init__(command)
        self.command, self.excerpt = command, excerpt


TRANSIENT_SSH_ERRORS = (
    NetmikoTimeoutException,
    ReadTimeout,
    SSHException,
    TimeoutError,
    socket.timeout,
    ConnectionResetError,
    EOFError,
    EmptyOutput,
)


def is_transient(exc: BaseException) -> bool:
    """Timeouts and resets are worth another try; an authentication failure or a changed host key never is."""
    final = (NetmikoAuthenticationException, AuthenticationException, BadHostKeyException)
    return isinstance(exc, TRANSIENT_SSH_ERRORS) and not isinstance(exc, final)


@dataclass(frozen=True)
class SshTarget:
    address: str
    device_type: str
    port: int = 22
    device_id: int | None = None
    node_id: int | None = None
    host_key: str | None = None  # trusted on first use: "ssh-ed25519 AAAA…"
    encoding: str | None = None  # the encoding this device's output decoded with last time


@dataclass(frozen=True)
class SshOptions:
    timeout_seconds: float = 20.0
    concurrency: int = 50
    retries: int = 2
    vantage: str = "local"


def key_text(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def fingerprint(host_key: str) -> str:
    """OpenSSH-style SHA256 fingerprint of a stored key (what `ssh-keygen -lf` prints)."""
    blob = base64.b64decode(host_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


HOST_KEY_DETAIL = re.compile(r"presented (SHA256:[A-Za-z0-9+/]+)")


def host_key_changed_detail(presented: str, trusted: str) -> str:
    """The failure's detail: both fingerprints (~140 characters), so an operator can check the new key
    against the device (`display ssh server-info` / `show ip ssh`, or its console) before clearing the old."""
    return f"host key changed: presented {fingerprint(presented)}, trusted {fingerprint(trusted)}; session refused"


def presented_fingerprint(detail: str | None) -> str | None:
    """The new key's fingerprint out of a host_key_changed detail (None for any other detail)."""
    m = HOST_KEY_DETAIL.search(detail or "")
    return m.group(1) if m else None


class _FirstUse(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]  # paramiko ships no type hints
    """Accept an unknown key (trust on first use) and remember it; a known, different key never gets here."""

    def __init__(self) -> None:
        self.key: str | None = None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.key = key_text(key)


def decode(raw: str, preferred: str | None) -> tuple[str, str]:
    """Latin-1 text read from the channel → (text, encoding): the preferred encoding, else UTF-8, else GBK."""
    data = raw.encode("latin-1", "replace")
    order = [e for e in dict.fromkeys([preferred or "", *ENCODINGS]) if e]
    for enc in order:
        try:
            return data.decode(enc), enc
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("utf-8", "replace"), "utf-8"


@dataclass
class Session:
    """What one SSH session read: raw outputs per fact (latin-1), the prompt, the platform, the host key."""

    outputs: dict[str, str]
    prompt: str
    platform: Platform
    host_key: str | None


def _connection(target: SshTarget, cred: Credential, timeout: float, policy: _FirstUse) -> BaseConnection:
    params: dict[str, Any] = {
        "device_type": target.device_type,
        "host": target.address,
        "port": target.port,
        "username": cred.username,
        "password": cred.password.get_secret_value(),
        "conn_timeout": timeout,
        "auth_timeout": timeout,
        "banner_timeout": timeout,
        "timeout": timeout,
        "read_timeout_override": timeout,  # also bounds netmiko's own prompt reads (10 s by default)
        "allow_agent": False,
        "use_keys": False,
        "encoding": "latin-1",
        "auto_connect": False,  # we open it inside try/finally: nothing leaks when login succeeds then hangs
    }
    if cred.secret is not None:
        params["secret"] = cred.secret.get_secret_value()
    conn: BaseConnection = ConnectHandler(**params)
    build = conn._build_ssh_client

    def build_client() -> paramiko.SSHClient:
        client = build()
        if target.host_key:
            kind, b64 = target.host_key.split()[:2]
            name = target.address if target.port == 22 else f"[{target.address}]:{target.port}"
            client.get_host_keys().add(name, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(b64)))
        client.set_missing_host_key_policy(policy)
        return client

    conn._build_ssh_client = build_client  # type: ignore[method-assign]
    return conn


def _close(conn: BaseConnection) -> None:
    """Say goodbye and close the SSH session, its transport thread and socket; never raises."""
    try:
        if conn.remote_conn is not None:
            conn.write_channel("quit" + conn.RETURN)
    except Exception:  # the session may be half open; closing below is what matters
        pass
    try:
        conn.paramiko_cleanup()
    except Exception:  # already closed
        pass
    finally:
        NETMIKO_LOG.removeFilter(conn._secrets_filter)


def _send(conn: BaseConnection, command: str, timeout: float) -> str:
    pattern = rf"(?:{re.escape(conn.base_prompt)}|{MORE.pattern})"
    out = str(conn.send_command(command, read_timeout=timeout, expect_string=pattern))
    if MORE.search(out):
        raise PagingNotDisabled(command, out)
    return out


def _session(target: SshTarget, cred: Credential, timeout: float) -> Session:
    policy = _FirstUse()
    conn = _connection(target, cred, timeout, policy)
    try:
        try:
            conn._open()
        except NetmikoTimeoutException as exc:  # netmiko wraps paramiko's refusal of a changed host key
            if isinstance(exc.__context__, BadHostKeyException):
                raise exc.__context__ from None
            raise
        prompt = str(conn.base_prompt)  # set while netmiko prepared the session; no extra round trip
        base = PLATFORMS[target.device_type]
        outputs = {"version": _send(conn, base.commands["version"], timeout)}
        if not outputs["version"].strip():
            raise EmptyOutput(base.commands["version"])
        platform = device_facts.flavour(target.device_type, outputs["version"])
        ran = {base.commands["version"]: outputs["version"]}
        for fact, command in platform.commands_for(outputs["version"]).items():
            if command not in ran:
                ran[command] = _send(conn, command, timeout)
            outputs[fact] = ran[command]
        return Session(outputs, prompt, platform, policy.key or target.host_key)
    finally:
        # We only ran show/display commands, so skip netmiko's cleanup (it waits 2 s of silence to check
        # for config mode on Huawei and Ruijie).
        _close(conn)


def collect(target: SshTarget, cred: Credential | None, opts: SshOptions) -> ProbeResult:
    """Log in, run the platform's commands, parse; never raises (blocking: call from a thread)."""
    started = time.monotonic()
    error: ProbeError | None = None
    facts = None
    seen: dict[str, str | None] = {"host_key": None, "encoding": None, "excerpt": None}

    def result(**extra: Any) -> ProbeResult:
        return ProbeResult(
            kind=ProbeKind.SSH,
            target=target.address,
            vantage=opts.vantage,
            ok=error is None,
            error=error,
            node_id=target.node_id,
            device_id=target.device_id,
            port=target.port,
            duration_seconds=time.monotonic() - started,
            facts=facts,
            host_key=seen["host_key"],
            encoding=seen["encoding"],
            excerpt=seen["excerpt"],
            **extra,
        )

    if target.device_type not in PLATFORMS:
        error = ProbeError.BAD_TARGET
        return result(detail=f"unsupported device type {target.device_type}")
    if cred is None:
        error = ProbeError.NO_CREDENTIAL
        return result(detail="no usable credential")
    try:
        for attempt in Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(opts.retries + 1),
            wait=wait_random(0.2, 1.0),
            reraise=True,
        ):
            with attempt:
                session = _session(target, cred, opts.timeout_seconds)
        seen["host_key"] = session.host_key
        joined = "\x00".join([session.prompt, *session.outputs.values()])
        _, encoding = decode(joined, target.encoding)
        seen["encoding"] = encoding
        outputs = {k: decode(v, encoding)[0] for k, v in session.outputs.items()}
        prompt = decode(session.prompt, encoding)[0]
        facts = device_facts.parse_facts(session.platform, outputs, prompt)
        facts["encoding"] = encoding
        return result()
    except ParseFailure as exc:
        error = ProbeError.PARSE_ERROR
        seen["excerpt"] = exc.excerpt
        return result(detail=f"unparseable output of {exc.command} ({exc.why})")
    except PagingNotDisabled as exc:
        error = ProbeError.PAGING_NOT_DISABLED
        seen["excerpt"] = decode(exc.excerpt, target.encoding)[0][-device_facts.EXCERPT_CHARS :]
        return result(detail=f"output of {exc.command} stopped at a More prompt")
    except BadHostKeyException as exc:
        error = ProbeError.HOST_KEY_CHANGED
        seen["host_key"] = key_text(exc.key)  # the NEW key, for the operator to verify (never trusted here)
        return result(detail=host_key_changed_detail(key_text(exc.key), key_text(exc.expected_key)))
    except NetmikoAuthenticationException:
        error = ProbeError.AUTH_FAILED
        return result(detail="authentication failed")
    except (NetmikoTimeoutException, ReadTimeout, TimeoutError) as exc:
        error = ProbeError.TIMEOUT
        return result(detail=type(exc).__name__)
    except (ConnectionResetError, EOFError, SSHException) as exc:
        error = ProbeError.RESET
        return result(detail=type(exc).__name__)
    except ConnectionRefusedError:
        error = ProbeError.REFUSED
        return result(detail="connection refused")
    except (ReadException, ValueError) as exc:  # netmiko could not find or match a prompt
        error = ProbeError.PROMPT_NOT_FOUND
        return result(detail=type(exc).__name__)
    except Exception as exc:  # one failing device must never stop the others
        error = ProbeError.ERROR
        return result(detail=type(exc).__name__)


async def collect_many(
    targets: Sequence[SshTarget],
    credential_for: Callable[[SshTarget], Credential | None],
    opts: SshOptions,
) -> list[ProbeResult]:
    """Collect from every device on at most `opts.concurrency` threads; results in target order."""
    if not targets:
        return []
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=max(1, min(opts.concurrency, len(targets)))) as pool:
        futures = [loop.run_in_executor(pool, collect, t, credential_for(t), opts) for t in targets]
        return list(await asyncio.gather(*futures))
