"""Where a request's synchronous work runs.

Route handlers and dependencies: anyio's default thread pool, `YUNWANG_API_THREADS` per API process
(`limit_handlers`, at start-up; 40 as anyio's default). Fewer threads serve more reads per second (Python runs one
thread at a time), but a request that waits holds its thread, so a small pool lets a few waiting requests stall the
process (docs/LISTS.md, "Speed"). Long work inside a request (a spreadsheet import, an export, a wave-plan workbook)
runs in a pool of its own (`run_long`), so a few large files never hold the handler threads and the quick requests of
the same process go on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar

LONG_WORK_THREADS = 4
T = TypeVar("T")

# One limiter per event loop (as anyio keeps its default one): a test's app gets its own.
_long_work: RunVar[CapacityLimiter] = RunVar("yunwang_long_work")


def limit_handlers(threads: int) -> None:
    """At most `threads` sync handlers of this event loop at once (anyio's default: 40)."""
    to_thread.current_default_thread_limiter().total_tokens = threads


async def run_long(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the long-work pool (LONG_WORK_THREADS at once), not in a handler thread."""
    try:
        limiter = _long_work.get()
    except LookupError:
        limiter = CapacityLimiter(LONG_WORK_THREADS)
        _long_work.set(limiter)
    return await to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)
