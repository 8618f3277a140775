"""SNMP v2c / v3 polling with pysnmp: sysUpTime and the interface table (IF-MIB), and rates between two polls.

Per interface: ifName (ifDescr when absent), ifOperStatus, ifHighSpeed, the 64-bit octet counters
ifHCInOctets / ifHCOutOctets, and ifIn/OutErrors, ifIn/OutDiscards. Rates come from two samples:
bits/s = Δoctets × 8 / Δt (64-bit wrap handled), utilisation = max(in, out) / speed, 0..1. A sysUpTime that
went backwards means the agent restarted: its counters restarted too, so that pair gives no rate.

Credentials are the device credentials (`collectors.credentials`): v2c uses the password as the community;
v3 (authPriv) uses the username, the password as the authentication key and the secret as the privacy key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
    get_cmd,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
)

from collectors.credentials import Credential
from collectors.results import ProbeError
from core.times import now_utc

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
COLUMNS = {  # IF-MIB columns, by the name they get in a sample
    "descr": "1.3.6.1.2.1.2.2.1.2",
    "oper_status": "1.3.6.1.2.1.2.2.1.8",
    "in_discards": "1.3.6.1.2.1.2.2.1.13",
    "in_errors": "1.3.6.1.2.1.2.2.1.14",
    "out_discards": "1.3.6.1.2.1.2.2.1.19",
    "out_errors": "1.3.6.1.2.1.2.2.1.20",
    "name": "1.3.6.1.2.1.31.1.1.1.1",
    "in_octets": "1.3.6.1.2.1.31.1.1.1.6",
    "out_octets": "1.3.6.1.2.1.31.1.1.1.10",
    "high_speed": "1.3.6.1.2.1.31.1.1.1.15",
}
AUTH_PROTOCOLS = {
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA224": usmHMAC128SHA224AuthProtocol,
    "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA384": usmHMAC256SHA384AuthProtocol,
    "SHA512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS = {
    "DES": usmDESPrivProtocol,
    "AES": usmAesCfb128Protocol,
    "AES192": usmAesCfb192Protocol,
    "AES256": usmAesCfb256Protocol,
}
VERSIONS = ("2c", "3")
COUNTER64 = 2**64


@dataclass(frozen=True)
class SnmpOptions:
    timeout_seconds: float = 2.0
    retries: int = 1
    concurrency: int = 100
    vantage: str = "local"


@dataclass(frozen=True)
class SnmpTarget:
    address: str
    version: str = "2c"
    port: int = 161
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"
    uplinks: tuple[str, ...] = ()  # interface names that carry the node's uplink
    device_id: int | None = None
    node_id: int | None = None


@dataclass(frozen=True)
class InterfaceSample:
    index: int
    name: str
    oper_up: bool
    speed_bps: int  # ifHighSpeed × 10⁶; 0 when unknown
    in_octets: int
    out_octets: int
    in_errors: int
    out_errors: int
    in_discards: int
    out_discards: int


@dataclass(frozen=True)
class SnmpSample:
    """One poll of one agent, stamped when its answers were in."""

    uptime_seconds: float
    interfaces: dict[int, InterfaceSample]
    at: datetime = field(default_factory=now_utc)


@dataclass(frozen=True)
class InterfaceRate:
    in_bps: float
    out_bps: float
    utilisation: float | None  # max(in, out) / speed, 0..1; None when the speed is unknown
    seconds: float


@dataclass(frozen=True)
class PollResult:
    target: SnmpTarget
    sample: SnmpSample | None
    error: ProbeError | None = None
    detail: str | None = None
    duration_seconds: float = 0.0


class SnmpError(Exception):
    """The agent answered with an error status or did not answer; the message has no secrets."""

    def __init__(self, kind: ProbeError, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def auth_data(target: SnmpTarget, cred: Credential) -> CommunityData | UsmUserData:
    if target.version == "2c":
        return CommunityData(cred.password.get_secret_value(), mpModel=1)
    if cred.secret is None:
        raise SnmpError(ProbeError.NO_CREDENTIAL, "SNMPv3 authPriv needs a privacy key (the credential's secret)")
    return UsmUserData(
        cred.username,
        cred.password.get_secret_value(),
        cred.secret.get_secret_value(),
        authProtocol=AUTH_PROTOCOLS[target.auth_protocol],
        privProtocol=PRIV_PROTOCOLS[target.priv_protocol],
    )


_AUTH_WORDS = ("unknownusername", "wrongdigest", "decryption", "unsupportedsecuritylevel", "notintimewindow")


def _check(error: Any, status: Any, what: str) -> None:
    """An SNMP engine error or an error status → SnmpError with a bounded kind (v2c: a wrong community is silence)."""
    if error:
        text = (type(error).__name__ + str(error)).replace(" ", "").lower()
        if "timeout" in text or "nosnmpresponse" in text:
            raise SnmpError(ProbeError.TIMEOUT, f"{what}: no answer")
        if any(w in text for w in _AUTH_WORDS):
            raise SnmpError(ProbeError.AUTH_FAILED, f"{what}: SNMPv3 authentication or privacy refused")
        raise SnmpError(ProbeError.ERROR, f"{what}: {type(error).__name__}")
    if status:
        raise SnmpError(ProbeError.ERROR, f"{what}: {status.prettyPrint()}")


async def poll(target: SnmpTarget, cred: Credential, opts: SnmpOptions, engine: SnmpEngine | None = None) -> SnmpSample:
    """sysUpTime and the interface columns of one agent; raises SnmpError."""
    engine = engine or SnmpEngine()
    auth = auth_data(target, cred)
    transport = await UdpTransportTarget.create(
        (target.address, target.port), timeout=opts.timeout_seconds, retries=opts.retries
    )
    error, status, _index, binds = await get_cmd(
        engine, auth, transport, ContextData(), ObjectType(ObjectIdentity(SYS_UPTIME))
    )
    _check(error, status, "sysUpTime")
    uptime = int(binds[0][1]) / 100
    columns: dict[str, dict[int, Any]] = {}
    for name, oid in COLUMNS.items():
        values: dict[int, Any] = {}
        async for error, status, _index, rows in bulk_walk_cmd(
            engine, auth, transport, ContextData(), 0, 50, ObjectType(ObjectIdentity(oid)), lexicographicMode=False
        ):
            _check(error, status, name)
            for oid_value, value in rows:
                values[int(tuple(oid_value.getOid())[-1])] = value
        columns[name] = values
    interfaces = {}
    for index in sorted(columns["oper_status"]):

        def get(col: str, default: Any = 0, i: int = index) -> Any:
            return columns[col].get(i, default)

        label = str(get("name", "") or get("descr", "") or f"if{index}")
        interfaces[index] = InterfaceSample(
            index=index,
            name=label,
            oper_up=int(get("oper_status")) == 1,
            speed_bps=int(get("high_speed")) * 1_000_000,
            in_octets=int(get("in_octets")),
            out_octets=int(get("out_octets")),
            in_errors=int(get("in_errors")),
            out_errors=int(get("out_errors")),
            in_discards=int(get("in_discards")),
            out_discards=int(get("out_discards")),
        )
    return SnmpSample(uptime, interfaces)


def rate(prev: SnmpSample, cur: SnmpSample, index: int) -> InterfaceRate | None:
    """bits/s in and out and utilisation of one interface between two polls (None: no valid pair)."""
    a, b = prev.interfaces.get(index), cur.interfaces.get(index)
    seconds = (cur.at - prev.at).total_seconds()
    if a is None or b is None or seconds <= 0 or cur.uptime_seconds < prev.uptime_seconds:
        return None
    in_bps = (b.in_octets - a.in_octets) % COUNTER64 * 8 / seconds
    out_bps = (b.out_octets - a.out_octets) % COUNTER64 * 8 / seconds
    util = min(1.0, max(in_bps, out_bps) / b.speed_bps) if b.speed_bps else None
    return InterfaceRate(in_bps, out_bps, util, seconds)


async def poll_many(
    targets: Sequence[SnmpTarget], creds: Sequence[Credential | None], opts: SnmpOptions
) -> list[PollResult]:
    """Poll every agent (at most `opts.concurrency` at once); one result per target, never raises."""
    gate = asyncio.Semaphore(max(1, opts.concurrency))

    async def one(t: SnmpTarget, cred: Credential | None) -> PollResult:
        started = time.monotonic()
        if cred is None:
            return PollResult(t, None, ProbeError.NO_CREDENTIAL, "no usable SNMP credential")
        async with gate:
            engine = SnmpEngine()  # one per agent: an engine keeps one key set per v3 user name
            try:
                sample = await poll(t, cred, opts, engine)
            except SnmpError as exc:
                return PollResult(t, None, exc.kind, exc.detail, time.monotonic() - started)
            except Exception as exc:  # one bad agent never stops the others
                return PollResult(t, None, ProbeError.ERROR, type(exc).__name__, time.monotonic() - started)
            finally:
                engine.close_dispatcher()
        return PollResult(t, sample, None, None, time.monotonic() - started)

    return list(await asyncio.gather(*(one(t, c) for t, c in zip(targets, creds, strict=True))))
