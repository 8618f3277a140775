"""Issue 14 "fast at 100k systems": rate recompute, list first page, list and /metrics throughput, on SQLite and
PostgreSQL, each figure beside the figure of another checkout of the code (the "before" column).

One command: `bash bench/run.sh scale`. The demo inventory of Guangxi at ~100,000 systems is loaded once per
store through `inventory.service` and kept (SQLite: var/bench/scale.db; PostgreSQL: database `yw_bench_scale` on
the server of YUNWANG_TEST_PG_URL), so a second run (or the "before" run) measures the same rows.

The "before" column: run the same script with the code of another checkout first, e.g.
  git worktree add /tmp/before main
  BENCH_SCALE_CODE=/tmp/before BENCH_SCALE_JSON=var/bench/scale-before.json .venv/bin/python bench/bench_scale.py
then `bash bench/run.sh scale` reads var/bench/scale-before.json (BENCH_SCALE_BEFORE, comma-separated files are
merged store by store) and writes both columns. With BENCH_SCALE_JSON set, the script only writes its figures
there (RESULTS.md untouched); BENCH_SCALE_REPORT=a.json,b.json writes RESULTS.md from such saved runs.
BENCH_SCALE_STORES=sqlite (or postgresql) measures one store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CODE = Path(os.environ.get("BENCH_SCALE_CODE", str(ROOT))).resolve()
sys.path.insert(0, str(CODE))
if CODE != ROOT:
    sys.path.insert(1, str(ROOT))  # bench.results, tests.live_server from this checkout

import httpx  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from bench.results import percentile  # noqa: E402

SYSTEMS = int(os.environ.get("BENCH_SCALE_SYSTEMS", "100000"))
DEMO_SYSTEMS_AT_SCALE_1 = 3000
STORES = os.environ.get("BENCH_SCALE_STORES", "sqlite,postgresql").split(",")
SECONDS = float(os.environ.get("BENCH_SCALE_SECONDS", "10"))
CLIENTS = int(os.environ.get("BENCH_SCALE_CLIENTS", "10"))
WORKERS = int(os.environ.get("BENCH_SCALE_WORKERS", "2"))
RECOMPUTES, AS_OF_RUNS, PAGES = 3, 3, 40
AS_OF_TIMEOUT_S = int(os.environ.get("BENCH_SCALE_AS_OF_TIMEOUT", "120"))
SQLITE_PATH = ROOT / "var" / "bench" / "scale.db"
PG_DB = "yw_bench_scale"
LIST = "/api/v1/inventory/systems"
AB = shutil.which("ab")  # ApacheBench: `apt-get install apache2-utils` (bench/README.md)
LOAD_CLIENT = os.environ.get("BENCH_SCALE_CLIENT", "ab")  # "httpx": the Python threads of the first round


def pg_base() -> str | None:
    url = os.environ.get("YUNWANG_TEST_PG_URL")
    if url:
        return url
    env = Path("/work/main/var/test/env.pg2")
    for line in env.read_text().splitlines() if env.exists() else []:
        if line.startswith("YUNWANG_TEST_PG_URL="):
            return line.split("=", 1)[1].strip()
    return None


def store_url(store: str) -> str | None:
    if store == "sqlite":
        SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{SQLITE_PATH}"
    base = pg_base()
    if base is None:
        return None
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if not c.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB}):
            c.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + f"/{PG_DB}"


def ensure_loaded(url: str) -> dict[str, Any]:
    """The scaled demo in `url`, loaded once; returns what is there (systems, change-log rows, load time)."""
    from core.audit import ChangeContext
    from core.db import Database
    from core.models import ChangeLog
    from inventory.demo.generator import load_demo
    from inventory.models import InformationSystem
    from orchestrator.app import schema as dbschema

    dbschema.upgrade(url)
    db = Database(url)
    info: dict[str, Any] = {}
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(InformationSystem)) or 0
        if n == 0:
            started = time.perf_counter()
            load_demo(s, ChangeContext(actor="bench", role="admin"), scale=SYSTEMS / DEMO_SYSTEMS_AT_SCALE_1)
            s.commit()
            info["load_s"] = time.perf_counter() - started
    with db.session() as s:
        info["systems"] = s.scalar(select(func.count()).select_from(InformationSystem)) or 0
        info["change_log"] = s.scalar(select(func.count()).select_from(ChangeLog)) or 0
    with db.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as c:
        c.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would have them on a live server
    db.dispose()
    return info


CPU: dict[int, list[float]] = {}  # id(wall list) -> CPU ms of this process for the same runs


def timed_runs(fn: Callable[[], Any], n: int) -> list[float]:
    """Wall ms per run; the CPU ms of this process (SQLite's work included, PostgreSQL's not) go to CPU."""
    out: list[float] = []
    cpu: list[float] = []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    CPU[id(out)] = cpu
    return out


def in_process(url: str) -> dict[str, Any]:
    """Recompute (live and as of the 1st of this month) and list pages, inside one process (no HTTP server)."""
    from fastapi.testclient import TestClient

    from core.db import Database
    from core.enums import Role
    from core.identity import create_token
    from dashboards import rates
    from dashboards.metrics import RATES_EXPORTER
    from orchestrator.app.factory import create_app
    from orchestrator.app.settings import Settings

    db = Database(url)
    with db.session() as s:
        token = create_token(s, f"bench-scale-{os.getpid()}", Role.AUDITOR)
        s.commit()
    settings = Settings(
        database_url=url, data_dir=Path(tempfile.mkdtemp()), scheduler_enabled=False, metrics_recompute_seconds=3600
    )
    app = create_app(settings, registry=CollectorRegistry(), database=db)
    from core.wiring import services

    exporter = services(app).get(RATES_EXPORTER)
    exporter.recompute()  # warm-up (statement caches, page cache)
    live = timed_runs(exporter.recompute, RECOMPUTES)  # nothing written in between
    # The last month's end as the monthly report reads it (its last instant, Beijing time).
    now_bj = datetime.now(UTC).astimezone(timezone(timedelta(hours=8)))
    month = now_bj.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(microseconds=1)
    out: dict[str, Any] = {"recompute_ms": live, "as_of": month.isoformat()}
    out["recompute_cpu_ms"] = CPU[id(live)]
    if hasattr(rates, "take_snapshot"):  # this code keeps month-end snapshots: time a recompute after a write too

        def write_then_recompute() -> None:
            _write_one(db)
            exporter.recompute()

        written = timed_runs(write_then_recompute, RECOMPUTES)
        out["recompute_after_write_ms"] = written
        out["recompute_after_write_cpu_ms"] = CPU[id(written)]
        with db.session() as s:  # what the daily month-end job does once per month
            took = timed_runs(lambda: rates.take_snapshot(s, month, "bench"), 1)
            s.commit()
        out["snapshot_take_ms"] = took
    with db.read_session() as s:
        if url.startswith("postgresql"):  # a pathological plan must not stall the whole benchmark
            s.execute(text(f"SET statement_timeout = '{AS_OF_TIMEOUT_S}s'"))
        try:
            first = timed_runs(lambda: rates.compute_all(s, month, keys=tuple(rates.RateKey)), 1)
            rest = timed_runs(lambda: rates.compute_all(s, month, keys=tuple(rates.RateKey)), AS_OF_RUNS - 1)
            out["as_of_ms"] = first + rest  # the first run counts: a timeout there is what the user would see
            out["as_of_cpu_ms"] = CPU[id(first)] + CPU[id(rest)]
        except OperationalError:
            out["as_of_ms"] = None
            out["as_of_timeout_s"] = AS_OF_TIMEOUT_S
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        for name, params in (("first_page", {}), ("status", {"status": "migrated"})):
            for _ in range(3):
                client.get(LIST, params=params)
            out[f"{name}_ms"] = timed_runs(lambda p=params: _ok(client.get(LIST, params=p)), PAGES)  # type: ignore[misc]
            out[f"{name}_cpu_ms"] = CPU[id(out[f"{name}_ms"])]
        plain = client.get("/metrics")
        zipped = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        out["metrics_bytes"] = len(plain.content)
        out["metrics_gzip_bytes"] = int(zipped.headers.get("content-length", len(plain.content)))
        out["metrics_encoding"] = zipped.headers.get("content-encoding", "identity")
        out["series"] = sum(1 for ln in plain.text.splitlines() if ln and not ln.startswith("#"))
    db.dispose()
    return out


def _write_one(db: Any) -> None:
    """One real inventory change (a system's contact phone, through inventory.service, audited)."""
    from core.audit import ChangeContext
    from inventory import service
    from inventory.models import InformationSystem

    with db.session() as s:
        first = s.scalar(select(InformationSystem.id).order_by(InformationSystem.id).limit(1))
        name = f"基准系统{uuid.uuid4().hex[:8]}"  # a new value every time: a real change, one change-log row
        service.update(s, "systems", first, {"name": name}, ChangeContext(actor="bench", role="admin"))
        s.commit()


def _ok(resp: httpx.Response) -> None:
    assert resp.status_code == 200, resp.text[:500]


def throughput(url: str, path: str, token: str, gzip_ok: bool) -> tuple[float, float]:
    """Requests/s and p50 ms of CLIENTS keep-alive clients hammering `path` for SECONDS: ApacheBench (`ab`, one
    C process; Debian apache2-utils) when installed, so the load client takes little of the server's CPU."""
    if AB and LOAD_CLIENT == "ab":
        return _ab(url, path, token, gzip_ok)
    done: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + SECONDS
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip" if gzip_ok else "identity"}

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                r = c.get(path)
                dt = time.perf_counter() - t
                with lock:
                    (done.append(dt * 1000) if r.status_code == 200 else errors.append(str(r.status_code)))

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    assert not errors, errors[:3]
    return len(done) / took, percentile(done, 50)


def _ab(url: str, path: str, token: str, gzip_ok: bool) -> tuple[float, float]:
    assert AB is not None
    cmd = [AB, "-q", "-k", "-c", str(CLIENTS), "-t", f"{SECONDS:g}", "-n", "10000000"]
    cmd += ["-H", f"Authorization: Bearer {token}", "-H", f"Accept-Encoding: {'gzip' if gzip_ok else 'identity'}"]
    res = subprocess.run([*cmd, url + path], capture_output=True, text=True, check=True, timeout=SECONDS + 120)
    figures = dict(line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    # ab counts a body of another length than the first as "failed" (Length): /metrics bodies vary; not an error
    broken = re.search(r"Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)", res.stdout)
    bad = int(figures.get("Non-2xx responses", "0").strip() or 0) + (
        sum(int(g) for g in broken.groups()) if broken else int(figures["Failed requests"].split()[0])
    )
    assert not bad, res.stdout[-800:]
    rps = float(figures["Requests per second"].split()[0])
    p50 = next(float(ln.split()[1]) for ln in res.stdout.splitlines() if ln.strip().startswith("50%"))
    return rps, p50


def over_http(url: str, code: Path = CODE, paths: tuple[str, ...] = ("list", "plain", "gzip")) -> dict[str, Any]:
    """List and /metrics requests per second with CLIENTS clients against uvicorn with WORKERS workers."""
    from core.db import Database
    from core.enums import Role
    from core.identity import create_token

    db = Database(url)
    with db.session() as s:
        token = create_token(s, f"bench-scale-http-{uuid.uuid4().hex[:8]}", Role.AUDITOR)
        s.commit()
    db.dispose()
    work = Path(tempfile.mkdtemp(prefix="yw-bench-scale-"))
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{code}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "YUNWANG_DATABASE_URL": url,
        "YUNWANG_DATA_DIR": str(work / "data"),
        "YUNWANG_SCHEDULER_ENABLED": "false",
    }
    cmd = [sys.executable, "-m", "uvicorn", "orchestrator.app.factory:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS), "--log-level", "warning"]
    log = (work / "server.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    client = "ab" if AB and LOAD_CLIENT == "ab" else "httpx"
    out: dict[str, Any] = {"workers": WORKERS, "clients": CLIENTS, "seconds": SECONDS, "client": client}
    try:
        _wait_ready(base, token, proc)
        if "list" in paths:
            out["list_rps"], out["list_p50_ms"] = throughput(base, LIST, token, True)
        if "plain" in paths:
            out["metrics_plain_rps"], _ = throughput(base, "/metrics", token, False)
        if "gzip" in paths:
            out["metrics_gzip_rps"], _ = throughput(base, "/metrics", token, True)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(base: str, token: str, proc: subprocess.Popen[bytes]) -> None:
    """Every worker has computed its rates snapshot (its first recompute runs at start) before timing."""
    deadline = time.monotonic() + 300
    ready = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            r = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            ready = ready + 1 if r.status_code == 200 and b"yunwang_rate_ratio" in r.content else 0
            if ready >= 4 * WORKERS:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("server not ready")


def measure(store: str) -> dict[str, Any] | None:
    url = store_url(store)
    if url is None:
        return None
    print(f"== {store}: loading (once) / upgrading", flush=True)
    out: dict[str, Any] = {"store": store, **ensure_loaded(url)}
    print(f"   {out}", flush=True)
    if os.environ.get("BENCH_SCALE_LOAD_ONLY"):
        return out
    out["load_at_start"] = os.getloadavg()[0]
    out.update(in_process(url))
    if os.environ.get("BENCH_SCALE_HTTP", "1") != "0":
        out.update(over_http(url))
    out["load_at_end"] = os.getloadavg()[0]
    print(json.dumps(out), flush=True)
    return out


def paired(store: str, before_code: Path, rounds: int) -> dict[str, Any]:
    """Throughput of the "before" and this code in alternation (before, after, before, after, …), so both
    see the same background load; returns {"before": [...], "after": [...]} of per-round figures."""
    import inventory.models  # noqa: F401  - tokens refer to units

    url = store_url(store)
    assert url is not None
    out: dict[str, Any] = {"before": [], "after": []}
    for _ in range(rounds):
        for side, code in (("before", before_code), ("after", CODE)):
            fig = over_http(url, code, ("list", "gzip"))
            fig["load"] = os.getloadavg()[0]
            out[side].append(fig)
            print(store, side, json.dumps(fig), flush=True)
    return out


def merged(paths: str) -> dict[str, Any] | None:
    """Figures of several saved runs (comma-separated JSON files), store by store; the last file wins."""
    out: dict[str, Any] = {}
    for path in filter(None, paths.split(",")):
        if Path(path).exists():
            data = json.loads(Path(path).read_text())
            out.update({k: v for k, v in data.items() if v is not None})
    return out or None


def main() -> None:
    from bench.scale_report import write

    before = merged(os.environ.get("BENCH_SCALE_BEFORE", str(ROOT / "var" / "bench" / "scale-before.json")))
    paired_path = Path(os.environ.get("BENCH_SCALE_PAIRED", str(ROOT / "var" / "bench" / "scale-paired.json")))
    pairs = json.loads(paired_path.read_text()) if paired_path.exists() else None
    saved = os.environ.get("BENCH_SCALE_REPORT")  # write RESULTS.md from saved runs, measure nothing
    if saved:
        after = merged(saved)
        assert after, f"no figures in {saved}"
        write(after, before, pairs)
        return
    before_code = os.environ.get("BENCH_SCALE_PAIRED_WITH")  # a checkout: alternate its server with this one
    if before_code:
        rounds = int(os.environ.get("BENCH_SCALE_ROUNDS", "2"))
        pairs = {s: paired(s, Path(before_code).resolve(), rounds) for s in STORES}
        Path(os.environ.get("BENCH_SCALE_JSON", str(ROOT / "var" / "bench" / "scale-paired.json"))).write_text(
            json.dumps(pairs, indent=1)
        )
        return
    figures = {s: measure(s) for s in STORES}
    result = {"code": str(CODE), "rev": _rev(CODE), "at": datetime.now(UTC).isoformat(), **figures}
    json_out = os.environ.get("BENCH_SCALE_JSON")
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1))
        print(f"figures written to {json_out}")
        return
    if not os.environ.get("BENCH_SCALE_LOAD_ONLY"):
        write(result, before, pairs)


def _rev(path: Path) -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True, check=False)
    return r.stdout.strip() or "?"


if __name__ == "__main__":
    main()
