"""N concurrent HTTP writers against a live yunwang for a bounded time (the concurrency test and bench/).

Each writer is a thread with its own keep-alive httpx client. It alternates two writes: create a region
with a code unique to (writer, n), and rename one shared region (all writers contend for that row).
It records what the server acknowledged (201/200), every other answer or transport error, and latencies.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

API = "/api/v1/inventory/regions"


@dataclass
class LoadResult:
    created: list[str] = field(default_factory=list)  # codes the server acknowledged (201)
    renames: int = 0  # acknowledged PATCHes of the shared region
    errors: list[str] = field(default_factory=list)  # anything else: status + body, or transport error
    latencies: list[float] = field(default_factory=list)  # seconds, every acknowledged write
    seconds: float = 0.0

    @property
    def writes(self) -> int:
        return len(self.created) + self.renames


def run_writers(base_url: str, token: str, writers: int, seconds: float, shared_id: int | None = None) -> LoadResult:
    """Run `writers` threads for `seconds`; every request has a bounded timeout, so this always ends."""
    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    started = time.monotonic()

    def writer(w: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=90) as client:
            n = 0
            while time.monotonic() < stop_at:
                code = f"LOAD-{w}-{n}"
                t0 = time.perf_counter()
                try:
                    if shared_id is not None and n % 2 == 1:
                        resp = client.patch(f"{API}/{shared_id}", json={"name": f"共享 {w}-{n}"})
                        ok = resp.status_code == 200
                    else:
                        resp = client.post(API, json={"code": code, "name": f"压测 {w}-{n}", "level": "city"})
                        ok = resp.status_code == 201
                    elapsed = time.perf_counter() - t0
                    with lock:
                        if ok:
                            result.latencies.append(elapsed)
                            if resp.request.method == "POST":
                                result.created.append(code)
                            else:
                                result.renames += 1
                        else:
                            result.errors.append(f"{resp.request.method} {resp.status_code} {resp.text[:300]}")
                except httpx.HTTPError as exc:
                    with lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}")
                n += 1

    threads = [threading.Thread(target=writer, args=(w,), name=f"writer-{w}") for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - started
    return result
