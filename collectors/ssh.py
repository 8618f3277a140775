"""SSH CLI collection with netmiko, parsed with ntc-templates: version, interfaces, CPU and memory.

The only module that imports netmiko. netmiko is blocking, so devices run on a bounded thread pool.
Transient failures (timeouts, resets) are retried; an authentication failure never is.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from netmiko import ConnectHandler
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadException,
    ReadTimeout,
)
from paramiko.ssh_exception import AuthenticationException, SSHException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from collectors import templates
from collectors.credentials import Credential
from collectors.results import ProbeError, ProbeKind, ProbeResult


class EmptyOutput(Exception):
    """A command came back empty: the session lost its place (seen under heavy load); worth a retry."""


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
    """Timeouts and resets are worth another try; an authentication failure (an SSHException too) never is."""
    auth = (NetmikoAuthenticationException, AuthenticationException)
    return isinstance(exc, TRANSIENT_SSH_ERRORS) and not isinstance(exc, auth)


class GarbledOutput(Exception):
    """The device answered, but not with anything its platform's parsers understand."""


@dataclass(frozen=True)
class Platform:
    """How to read one netmiko device type: its ntc-templates platform and the commands per fact."""

    ntc: str
    version: str
    interfaces: str
    cpu: str | None = None
    memory: str | None = None


PLATFORMS: dict[str, Platform] = {
    "huawei": Platform(
        "huawei_vrp", "display version", "display interface brief", "display cpu-usage", "display memory-usage"
    ),
    "hp_comware": Platform(
        "hp_comware", "display version", "display interface brief", "display cpu-usage", "display memory"
    ),
    "ruijie_os": Platform("ruijie_os", "show version", "show ip interface brief", "show cpu", "show memory"),
    "cisco_ios": Platform("cisco_ios", "show version", "show ip interface brief", "show processes cpu", None),
}

# Fallbacks where ntc-templates has no template for a platform's command (one regex each).
_VERSION_RE = [
    re.compile(r"VRP \(R\) software, Version (?P<version>\S+) \((?P<model>[^ )]+)"),
    re.compile(r"Comware Software, Version (?P<version>[^\n,]+)"),
    re.compile(r"System software version\s*:\s*(?P<version>[^\n]+?)\s*$", re.M),
    re.compile(r"FRRouting (?P<version>\S+)"),
    re.compile(r"Cisco IOS Software.*Version (?P<version>[^,\s]+)"),
]
_MODEL_RE = re.compile(r"^(?:H3C|HUAWEI)\s+(?P<model>\S+)\s.*uptime is|Ruijie .*?\((?P<rmodel>[^)]+)\) By Ruijie", re.M)
_CPU_RE = re.compile(
    r"(?i)CPU (?:usage|utilization)[^:\n]*:[ \t]*(?P<pct>\d+(?:\.\d+)?)%|(?P<pct5>\d+(?:\.\d+)?)% in last 5 minutes"
)
_MEM_RE = re.compile(r"(?i)(?:Memory Using Percentage(?: Is)?|Used Rate|memory usage)\s*:?\s*(?P<pct>\d+(?:\.\d+)?)%")


@dataclass(frozen=True)
class SshTarget:
    address: str
    device_type: str
    port: int = 22
    device_id: int | None = None
    node_id: int | None = None


@dataclass(frozen=True)
class SshOptions:
    timeout_seconds: float = 20.0
    concurrency: int = 50
    retries: int = 2
    vantage: str = "local"


def _parse(platform: Platform, command: str, data: str) -> list[dict[str, Any]]:
    return templates.parse(platform.ntc, command, data)


def parse_facts(device_type: str, outputs: dict[str, str], prompt: str) -> dict[str, Any]:
    """Facts from raw CLI outputs; raises GarbledOutput when not even the version can be read."""
    platform = PLATFORMS[device_type]
    facts: dict[str, Any] = {
        "hostname": re.sub(r"^[<\[]|[>\]#]$", "", prompt.strip()).strip() or None,
        "platform": platform.ntc,
    }
    version_rows = _parse(platform, platform.version, outputs.get("version", ""))
    if version_rows:
        row = version_rows[0]
        facts["version"] = row.get("vrp_version") or row.get("version") or row.get("product_version")
        hardware = row.get("hardware")
        facts["model"] = row.get("model") or (hardware[0] if isinstance(hardware, list) and hardware else None)
        facts["uptime"] = row.get("uptime")
        facts["parsed_by"] = "ntc-templates"
    else:
        text = outputs.get("version", "")
        for rx in _VERSION_RE:
            m = rx.search(text)
            if m:
                facts["version"] = m.group("version").strip()
                facts["model"] = m.groupdict().get("model")
                facts["parsed_by"] = "regex"
                break
        else:
            raise GarbledOutput(platform.version)
        m = _MODEL_RE.search(text)
        if m and not facts.get("model"):
            facts["model"] = m.group("model") or m.group("rmodel")
    interfaces = []
    for row in _parse(platform, platform.interfaces, outputs.get("interfaces", ""))[:500]:
        name = row.get("interface") or row.get("intf")
        status = row.get("phy") or row.get("link") or row.get("status")
        protocol = row.get("protocol") or row.get("proto")
        interfaces.append({"name": name, "status": str(status or "").lower(), "protocol": str(protocol or "").lower()})
    facts["interfaces"] = interfaces
    facts["interfaces_up"] = sum(1 for i in interfaces if str(i["status"]).startswith("up"))
    cpu_rows = _parse(platform, platform.cpu, outputs.get("cpu", "")) if platform.cpu else []
    if cpu_rows and cpu_rows[0].get("cpu_usage_5_min"):
        facts["cpu_percent"] = float(cpu_rows[0]["cpu_usage_5_min"])
    elif (m := _CPU_RE.search(outputs.get("cpu", ""))) is not None:
        facts["cpu_percent"] = float(m.group("pct5") or m.group("pct"))
    if (m := _MEM_RE.search(outputs.get("memory", ""))) is not None:
        facts["memory_percent"] = float(m.group("pct"))
    return facts


def _session(target: SshTarget, cred: Credential, timeout: float) -> tuple[dict[str, str], str]:
    platform = PLATFORMS[target.device_type]
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
    }
    if cred.secret is not None:
        params["secret"] = cred.secret.get_secret_value()
    conn = ConnectHandler(**params)
    try:
        prompt = str(conn.base_prompt)  # set while netmiko prepared the session; no extra round trip
        outputs: dict[str, str] = {}
        for fact in ("version", "interfaces", "cpu", "memory"):
            command = getattr(platform, fact)
            if command:
                outputs[fact] = str(conn.send_command(command, read_timeout=timeout))
    finally:
        # We only ran show/display commands, so skip netmiko's cleanup: it waits 2 s of silence to check
        # for config mode on Huawei and Ruijie. Say goodbye and close the SSH session.
        try:
            conn.write_channel("quit" + conn.RETURN)
        finally:
            conn.paramiko_cleanup()
    if not outputs.get("version", "").strip():
        raise EmptyOutput(platform.version)
    return outputs, prompt


def collect(target: SshTarget, cred: Credential | None, opts: SshOptions) -> ProbeResult:
    """Log in, run the platform's commands, parse; never raises (blocking: call from a thread)."""
    started = time.monotonic()
    error: ProbeError | None = None
    facts = None

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
                outputs, prompt = _session(target, cred, opts.timeout_seconds)
        facts = parse_facts(target.device_type, outputs, prompt)
        return result()
    except GarbledOutput as exc:
        error = ProbeError.GARBLED
        return result(detail=f"unparseable output of {exc}")
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
        error = ProbeError.GARBLED
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
