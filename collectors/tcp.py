"""TCP connect probes to the named ports of a node, many at once, bounded by a semaphore."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random

from collectors.results import ProbeError, ProbeKind, ProbeResult
from inventory.addresses import is_host

# Worth another try: the network may have hiccuped. A refusal or an unreachable route is an answer.
TRANSIENT_TCP_ERRORS = (TimeoutError, ConnectionResetError, ConnectionAbortedError)


@dataclass(frozen=True)
class TcpTarget:
    address: str
    port: int
    node_id: int | None = None


@dataclass(frozen=True)
class TcpOptions:
    timeout_seconds: float = 2.0
    concurrency: int = 500
    retries: int = 1
    vantage: str = "local"


def classify(exc: BaseException) -> ProbeError:
    """A bounded error kind for a socket error."""
    if isinstance(exc, TimeoutError):
        return ProbeError.TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return ProbeError.REFUSED
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError)):
        return ProbeError.RESET
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ProbeError.UNREACHABLE
    return ProbeError.ERROR


async def _connect_once(target: TcpTarget, timeout: float) -> None:
    _reader, writer = await asyncio.wait_for(asyncio.open_connection(target.address, target.port), timeout)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def probe_port(target: TcpTarget, opts: TcpOptions) -> ProbeResult:
    """Connect once (retrying timeouts and resets only); never raises."""
    started = time.monotonic()
    if not is_host(target.address):  # never hand a malformed name to the resolver
        return ProbeResult(
            ProbeKind.TCP,
            target.address,
            opts.vantage,
            False,
            ProbeError.BAD_TARGET,
            "not an IP address or host name",
            node_id=target.node_id,
            port=target.port,
        )
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT_TCP_ERRORS),
            stop=stop_after_attempt(opts.retries + 1),
            wait=wait_random(0, 0.2),
            reraise=True,
        ):
            with attempt:
                await _connect_once(target, opts.timeout_seconds)
        error: ProbeError | None = None
        detail = None
    except Exception as exc:  # one failing target must never stop the others
        error, detail = classify(exc), type(exc).__name__
    return ProbeResult(
        kind=ProbeKind.TCP,
        target=target.address,
        vantage=opts.vantage,
        ok=error is None,
        error=error,
        detail=detail,
        node_id=target.node_id,
        port=target.port,
        duration_seconds=time.monotonic() - started,
    )


async def probe_many(targets: Sequence[TcpTarget], opts: TcpOptions) -> list[ProbeResult]:
    """Probe every (address, port) with at most `opts.concurrency` connections in flight."""
    gate = asyncio.Semaphore(max(1, opts.concurrency))

    async def one(t: TcpTarget) -> ProbeResult:
        async with gate:
            return await probe_port(t, opts)

    return list(await asyncio.gather(*(one(t) for t in targets)))
