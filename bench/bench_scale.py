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
BENCH_SCALE_STORES=sqlite (or postgresql) measures one store; BENCH_SCALE_SQLITE=<file> uses another SQLite file;
BENCH_SCALE_IN_PROCESS=0 (or BENCH_SCALE_HTTP=0) leaves out the in-process figures (or the HTTP ones).

List and /metrics throughput run the production topology (deploy/, docs/deploy.md): two single-process uvicorn API
processes behind nginx running deploy/nginx/yunwang.conf (tests/live_nginx.py), the load from `wrk -t 2 -c CLIENTS`
(HTTP/1.1 keep-alive connections); each run also records the CPU per request of the API processes, nginx, PostgreSQL
and the load client (/proc/<pid>/stat), and the connections each API process held in the middle of the run (`ss`).
Missing wrk or nginx is installed from Debian when running as root (tests/env/lib.sh apt_install); still missing:
ab / uvicorn --workers instead, and the figures say so ("fallback"). BENCH_SCALE_TOPOLOGY=uvicorn measures the way
of the first figures: `uvicorn --workers BENCH_SCALE_WORKERS` on one port and ApacheBench (`ab -k`: HTTP/1.0, and
uvicorn sends no keep-alive header, so every request is a new connection); BENCH_SCALE_CLIENT=wrk|ab|httpx picks
the load client. The paired mode (BENCH_SCALE_PAIRED_WITH) runs both sides in the same topology.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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
SQLITE_PATH = Path(os.environ.get("BENCH_SCALE_SQLITE", str(ROOT / "var" / "bench" / "scale.db")))
PG_DB = "yw_bench_scale"
LIST = "/api/v1/inventory/systems"
AB = shutil.which("ab")  # ApacheBench: `apt-get install apache2-utils`
TOPOLOGY = os.environ.get("BENCH_SCALE_TOPOLOGY", "nginx")  # "uvicorn": uvicorn --workers WORKERS on one port
# "ab": the load client of the first (uvicorn) figures; "httpx": the Python threads of the very first round
LOAD_CLIENT = os.environ.get("BENCH_SCALE_CLIENT", "wrk" if TOPOLOGY == "nginx" else "ab")
CLK_TCK = os.sysconf("SC_CLK_TCK")


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


@dataclass(frozen=True)
class Setup:
    """The topology and load client this run uses, after installing what is missing (root) or falling back."""

    topology: str  # "nginx": nginx → 2 single-process API processes; "uvicorn": uvicorn --workers WORKERS
    client: str  # "wrk", "ab" or "httpx"
    nginx: str | None = None  # the nginx binary (topology "nginx")
    wrk: str | None = None
    fallback: tuple[str, ...] = ()  # what could not be had and what was measured instead


def _installed(find: Callable[[], str | None], package: str) -> str | None:
    """The tool `find` returns; missing and running as root: the Debian package installed first."""
    found = find()
    if found is None and os.geteuid() == 0:
        print(f"   {package} missing: installing the Debian package", flush=True)
        subprocess.run(["bash", "-c", f". {ROOT}/tests/env/lib.sh && apt_install {package}"], check=False)
        found = find()
    return found


@functools.cache
def setup() -> Setup:
    from tests.live_nginx import nginx_binary

    fallback: list[str] = []
    topology, client, nginx, wrk = TOPOLOGY, LOAD_CLIENT, None, None
    if topology == "nginx":
        nginx = _installed(nginx_binary, "nginx")
        if nginx is None:
            topology = "uvicorn"
            fallback.append(f"no nginx: uvicorn --workers {WORKERS} on one port measured instead")
    if client == "wrk":
        wrk = _installed(lambda: shutil.which("wrk"), "wrk")
        if wrk is None:
            client = "ab" if AB else "httpx"
            fallback.append(f"no wrk: {client} as the load client instead")
    if client == "ab" and not AB:
        client = "httpx"
        fallback.append("no ab (apache2-utils): httpx threads as the load client instead")
    for note in fallback:
        print(f"   FALLBACK: {note}", flush=True)
    return Setup(topology, client, nginx, wrk, tuple(fallback))


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    requests: int
    extra: dict[str, Any] = field(default_factory=dict)


def throughput(url: str, path: str, token: str, gzip_ok: bool) -> Load:
    """Requests/s and p50 ms of CLIENTS clients hammering `path` for SECONDS with the load client of `setup()`:
    wrk (HTTP/1.1, keep-alive connections) or ab (one C process each), so the client takes little CPU."""
    how = setup()
    if how.client == "wrk":
        return _wrk(url, path, token, gzip_ok)
    if how.client == "ab":
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
    return Load(len(done) / took, percentile(done, 50), len(done))


WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk(url: str, path: str, token: str, gzip_ok: bool) -> Load:
    """`wrk -t 2 -c CLIENTS -d SECONDS --latency`; any non-2xx answer or socket error fails the run."""
    wrk = setup().wrk
    assert wrk is not None
    seconds = max(1, round(SECONDS))  # wrk takes whole seconds
    cmd = [wrk, "-t", "2", "-c", str(CLIENTS), "-d", f"{seconds}s", "--latency", "--timeout", "60s"]
    cmd += ["-H", f"Authorization: Bearer {token}", "-H", f"Accept-Encoding: {'gzip' if gzip_ok else 'identity'}"]
    res = subprocess.run([*cmd, url + path], capture_output=True, text=True, check=True, timeout=seconds + 120)
    text_out = res.stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text_out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text_out)
    bad = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(int(g) for g in sockets.groups()) if sockets else 0)
    assert not bad, f"wrk: {bad} failed requests\n{text_out[-800:]}"
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text_out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text_out)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", text_out, re.MULTILINE)
    assert done and rps and p50, text_out
    return Load(float(rps.group(1)), float(p50.group(1)) * WRK_UNITS_MS[p50.group(2)], int(done.group(1)))


def _ab(url: str, path: str, token: str, gzip_ok: bool) -> Load:
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
    # ab speaks HTTP/1.0 and keeps a connection only when the answer says Keep-Alive (uvicorn's does not): 0 here
    # means every request opened a new connection
    kept = int(figures.get("Keep-Alive requests", "0").strip() or 0)
    return Load(rps, p50, int(figures["Complete requests"].strip()), {"keepalive_requests": kept})


def _procs() -> dict[int, tuple[int, int, int]]:
    """pid → (session id, uid, utime + stime in clock ticks) of every process (/proc/<pid>/stat)."""
    out: dict[int, tuple[int, int, int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            uid = d.stat().st_uid
        except OSError:  # gone meanwhile
            continue
        f = stat[stat.rindex(")") + 2 :].split()  # f[0] is field 3 (state): session = 6, utime = 14, stime = 15
        out[int(d.name)] = (int(f[3]), uid, int(f[11]) + int(f[12]))
    return out


def _sockets() -> list[tuple[int, int, int]]:
    """(local port, peer port, pid) of every established TCP connection on this machine (`ss -tnpH`)."""
    res = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True, check=False)
    out = []
    for line in res.stdout.splitlines():
        parts = line.split()
        pids = re.findall(r"pid=(\d+)", line)
        if len(parts) >= 4 and pids:
            out.append((int(parts[2].rsplit(":", 1)[1]), int(parts[3].rsplit(":", 1)[1]), int(pids[0])))
    return out


@dataclass
class Servers:
    """The processes under test: API processes (each in a session of its own), nginx; and the ports to watch."""

    api: list[subprocess.Popen[bytes]]
    api_ports: tuple[int, ...]
    nginx: subprocess.Popen[bytes] | None
    pg_port: int | None  # the PostgreSQL server's port (None: SQLite)


def _cpu_ms(a: dict[int, tuple[int, int, int]], b: dict[int, tuple[int, int, int]], pids: set[int]) -> float:
    """CPU ms spent between snapshots a and b by the processes `pids` (those started meanwhile count from 0)."""
    return sum(b[p][2] - a.get(p, (0, 0, 0))[2] for p in pids if p in b) * 1000 / CLK_TCK


def measured(servers: Servers, url: str, path: str, token: str, gzip_ok: bool) -> dict[str, Any]:
    """One throughput run; the CPU ms per request of each process group and each API process's connections."""
    import pwd

    try:
        pg_uid: int | None = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        pg_uid = None
    conns: dict[str, int] = {}

    def sample() -> None:  # in the middle of the run: who holds the client connections
        time.sleep(SECONDS / 2)
        for local, _, pid in _sockets():
            if local in servers.api_ports:
                conns[str(pid)] = conns.get(str(pid), 0) + 1

    sampler = threading.Thread(target=sample, daemon=True)
    before, kids, me = _procs(), resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    sampler.start()
    load = throughput(url, path, token, gzip_ok)
    after, kids2 = _procs(), resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.join()
    client_s = kids2.ru_utime + kids2.ru_stime - kids.ru_utime - kids.ru_stime  # wrk/ab: reaped meanwhile
    if setup().client == "httpx":
        client_s = time.process_time() - me
    api_sessions = {p.pid for p in servers.api}
    groups: dict[str, set[int]] = {"api": {p for p, (sid, _, _) in after.items() if sid in api_sessions}}
    if servers.nginx is not None:
        groups["nginx"] = {p for p, (sid, _, _) in after.items() if sid == servers.nginx.pid}
    if servers.pg_port is not None and pg_uid is not None:
        groups["postgresql"] = {p for p, (_, uid, _) in after.items() if uid == pg_uid}
        ours = {local for local, peer, pid in _sockets() if peer == servers.pg_port and pid in groups["api"]}
        groups["postgresql_ours"] = {p for p in groups["postgresql"] if _pg_backend_port(p) in ours}
    n = max(load.requests, 1)
    cpu = {name: round(_cpu_ms(before, after, pids) / n, 3) for name, pids in groups.items()}
    cpu["client"] = round(client_s * 1000 / n, 3)
    out = {"rps": load.rps, "p50_ms": load.p50_ms, "requests": load.requests, "cpu_ms": cpu, "connections": conns}
    return {**out, **load.extra}


def _pg_backend_port(pid: int) -> int | None:
    """The client port a PostgreSQL backend serves (its title: `postgres: user db 127.0.0.1(PORT) state`)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None
    m = re.search(r"\((\d+)\)", title)
    return int(m.group(1)) if m else None


def _api(code: Path, env: dict[str, str], port: int, log: Path, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "orchestrator.app.factory:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *extra]
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _serve(code: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """One API process as deployed: `yunwang serve` (deploy/systemd/yunwang-api@.service; its logging included)."""
    cmd = [sys.executable, "-m", "orchestrator.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*cmd, "--no-upgrade"], cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (uvicorn and nginx stop their workers themselves), SIGKILL of the whole session after 20 s."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


PATHS = {  # what over_http measures: key prefix of the figures, path, gzip accepted
    "list": ("list", LIST, True),
    "plain": ("metrics_plain", "/metrics", False),
    "gzip": ("metrics_gzip", "/metrics", True),
}


def over_http(url: str, code: Path = CODE, paths: tuple[str, ...] = ("list", "plain", "gzip")) -> dict[str, Any]:
    """List and /metrics requests per second with CLIENTS clients against the topology of `setup()`."""
    from core.db import Database
    from core.enums import Role
    from core.identity import create_token
    from tests.live_nginx import Nginx
    from tests.live_server import free_port

    db = Database(url)
    with db.session() as s:
        token = create_token(s, f"bench-scale-http-{uuid.uuid4().hex[:8]}", Role.AUDITOR)
        s.commit()
    db.dispose()
    how = setup()
    work = Path(tempfile.mkdtemp(prefix="yw-bench-scale-"))
    env = {
        **os.environ,
        "PYTHONPATH": f"{code}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "YUNWANG_DATABASE_URL": url,
        "YUNWANG_SCHEDULER_ENABLED": "false",
    }
    pg_port = int(m.group(1)) if (m := re.search(r"@[^/:]+:(\d+)/", url)) else (5432 if "postgresql" in url else None)
    out: dict[str, Any] = {"topology": how.topology, "client": how.client, "clients": CLIENTS, "seconds": SECONDS}
    if how.fallback:
        out["fallback"] = list(how.fallback)
    servers = Servers([], (), None, pg_port)
    try:
        if how.topology == "nginx":
            assert how.nginx is not None
            ports = (free_port(), free_port())
            for i, port in enumerate(ports):
                api_env = {**env, "YUNWANG_DATA_DIR": str(work / f"api{i}" / "data")}
                servers.api.append(_serve(code, api_env, port, work / f"api{i}.log"))
            servers.api_ports = ports
            for port, proc in zip(ports, servers.api, strict=True):
                _wait_ready(f"http://127.0.0.1:{port}", token, proc, 1)
            nginx = Nginx(how.nginx, work / "nginx", ports)
            nginx.start()
            assert nginx.proc is not None
            servers.nginx = nginx.proc
            _wait_ready(nginx.url, token, nginx.proc, 1)
            base = nginx.url
            out["api_processes"] = len(ports)
        else:
            port = free_port()
            servers.api.append(
                _api(
                    code,
                    {**env, "YUNWANG_DATA_DIR": str(work / "data")},
                    port,
                    work / "server.log",
                    ["--workers", str(WORKERS)],
                )
            )
            servers.api_ports = (port,)
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, token, servers.api[0], WORKERS)
            out["workers"] = WORKERS
        for name in paths:
            key, path, gzip_ok = PATHS[name]
            fig = measured(servers, base, path, token, gzip_ok)
            out.update({f"{key}_{k}": v for k, v in fig.items()})  # list_rps, list_p50_ms, list_cpu_ms, …
    finally:
        _stop(servers.nginx)
        for proc in servers.api:
            _stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    return out


def _wait_ready(base: str, token: str, proc: subprocess.Popen[bytes], workers: int) -> None:
    """Every worker behind `base` has computed its rates snapshot (its first recompute runs at start)."""
    deadline = time.monotonic() + 300
    ready = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            r = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            ready = ready + 1 if r.status_code == 200 and b"yunwang_rate_ratio" in r.content else 0
            if ready >= 4 * workers:
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
    if os.environ.get("BENCH_SCALE_IN_PROCESS", "1") != "0":
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
