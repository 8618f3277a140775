"""The plain demo tells a true story: a department user's request is created, approved twice, scheduled,
provisioned and retired on the in-memory demo cloud (labelled as such); its extranet nodes answer on loopback
except the two down on purpose; a busy port is refused before anything changes.

Real `yunwang demo` processes (tests/demo_server.py); ICMP needs root (or net.ipv4.ping_group_range), as the
collectors' own tests do.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.demo_server import YUNWANG, DemoServer, demo_env
from tests.live_server import free_port
from tests.task_jobs import settled

pytestmark = pytest.mark.integration

LABEL = "内存模拟云 in-memory demo cloud — nothing is created anywhere"
DOWN_NOTE = "（演示：故意离线 / demo: down on purpose）"
FAST_PROBES = {
    "YUNWANG_COLLECTOR_ICMP_INTERVAL_SECONDS": "12",
    "YUNWANG_COLLECTOR_TCP_INTERVAL_SECONDS": "12",
    "YUNWANG_COLLECTOR_JITTER_SECONDS": "2",
}


def ok(resp: httpx.Response, status: int = 200) -> dict:  # type: ignore[type-arg]
    assert resp.status_code == status, resp.text
    return resp.json()  # type: ignore[no-any-return]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_busy_port_is_refused_before_the_database_or_tokens_change(tmp_path: Path) -> None:
    env = demo_env(tmp_path)
    load = subprocess.run(
        [str(YUNWANG), "demo", "--no-serve", "--scale", "0.05"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert load.returncode == 0, load.stdout + load.stderr
    tokens, db = tmp_path / "data" / "demo-tokens.txt", tmp_path / "yunwang.db"
    before = (digest(tokens), digest(db), tokens.stat().st_mtime_ns, db.stat().st_mtime_ns)
    with socket.socket() as busy:  # someone (a running demo) listens on the port
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for extra in (
            [],
            ["--reset"],
            ["--no-serve"],
            ["--reset", "--no-serve"],
        ):  # --no-serve: a reviewer wiped a live demo
            run = subprocess.run(
                [str(YUNWANG), "demo", "--host", "127.0.0.1", "--port", str(port), *extra],
                env={**env, "COLUMNS": "300"},
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert run.returncode == 3, run.stdout + run.stderr
            out = run.stdout + run.stderr
            assert out.lstrip().startswith("端口已被占用 / port already in use: 127.0.0.1:") and str(port) in out
            assert "未做任何更改" in out and "nothing was changed" in out
            assert "Traceback" not in out
        check = subprocess.run(  # what scripts/demo.sh runs before it touches the cloud
            [str(YUNWANG), "demo", "--check-port", "--port", str(port)], env=env, cwd=tmp_path, check=False
        )
        assert check.returncode == 3
    assert (digest(tokens), digest(db), tokens.stat().st_mtime_ns, db.stat().st_mtime_ns) == before
    free = subprocess.run([str(YUNWANG), "demo", "--check-port", "--port", str(free_port())], env=env, check=False)
    assert free.returncode == 0
    assert (digest(tokens), digest(db)) == before[:2]


def _request_flow(demo: DemoServer) -> None:
    dept, chief, office, operator = (
        demo.client(r) for r in ("department_user", "sub_cloud_chief", "cloud_chief_office", "cloud_operator")
    )
    unit = ok(dept.get("/api/v1/inventory/units", params={"code": "DEMO-450100-D01"}))["items"][0]
    assert unit["name"] == "【演示】南宁市大数据发展局"
    body = {
        "title": "演示：上云",
        "unit_id": unit["id"],
        "dr_level": "remote_dr",
        "bundle": {"servers": [{"name": "app", "flavor": "m1.large", "image": "kylin-v10", "count": 2}]},
    }
    req = ok(dept.post("/api/v1/requests", json=body), 201)
    rid = req["id"]
    assert req["demand"]["vcpus"] == 16  # 2 servers × m1.large (4 vCPUs) × 2 sites (remote DR)
    assert ok(dept.post(f"/api/v1/requests/{rid}/submit"))["status"] == "submitted"  # 16 vCPUs > 8: not automatic
    assert ok(chief.post(f"/api/v1/requests/{rid}/approve", json={"comment": "同意"}))["first_level_done"] is True
    assert ok(office.post(f"/api/v1/requests/{rid}/approve", json={"comment": "同意"}))["status"] == "approved"
    placed = ok(operator.post(f"/api/v1/requests/{rid}/schedule"))
    assert (placed["status"], placed["primary_cloud"], placed["replica_cloud"]) == (
        "scheduled",
        "gov-nanning",
        "gov-guilin",
    )
    done = ok(settled(operator, operator.post(f"/api/v1/requests/{rid}/provision"), {}))
    assert done["status"] == "active"
    servers = sorted((r["cloud"], r["name"]) for r in done["resources"] if r["kind"] == "server")
    assert servers == [
        ("gov-guilin", "app-dr-1"),
        ("gov-guilin", "app-dr-2"),
        ("gov-nanning", "app-1"),
        ("gov-nanning", "app-2"),
    ]
    assert ok(settled(operator, operator.post(f"/api/v1/requests/{rid}/retire"), {}))["status"] == "retired"
    # a request the clouds cannot hold: 409 saying which filter removed which candidate
    big = {**body, "dr_level": "none", "title": "演示：过大"}
    big["bundle"] = {"servers": [{"name": f"s{i}", "flavor": "m1.large", "image": "x", "count": 50} for i in range(3)]}
    rid = ok(dept.post("/api/v1/requests", json=big), 201)["id"]
    ok(dept.post(f"/api/v1/requests/{rid}/submit"))
    ok(chief.post(f"/api/v1/requests/{rid}/approve", json={}))
    ok(office.post(f"/api/v1/requests/{rid}/approve", json={}))
    refused = operator.post(f"/api/v1/requests/{rid}/schedule")
    assert refused.status_code == 409
    err = refused.json()["error"]
    assert err["message"] == (
        "调度失败 / placement failed: no candidate passes every filter "
        "(被过滤的候选 / candidates removed by filter: capacity ×3)"
    )
    # 150 × 4 = 600 vCPUs; each demo cloud has 2 hosts × 256 = 512
    assert sorted(d["message"] for d in err["details"]) == [
        f"{c}/{site}/{c}-az: capacity: primary: not enough free capacity: vcpus 512 < 600"
        for c, site in (("gov-guilin", "桂林灾备"), ("gov-nanning", "南宁核心"), ("gov-wuzhou", "梧州灾备"))
    ]


def test_plain_demo_requests_run_on_the_in_memory_cloud_and_nodes_answer(tmp_path: Path) -> None:
    demo = DemoServer.start(tmp_path, "--scale", "0.05", env=FAST_PROBES)
    started = time.monotonic()
    try:
        assert f"clouds: {LABEL} (gov-guilin, gov-nanning, gov-wuzhou)" in demo.log()
        caps = ok(demo.client("cloud_operator").get("/api/v1/clouds/capacity"))
        assert sorted(c["cloud"] for c in caps) == ["gov-guilin", "gov-nanning", "gov-wuzhou"]
        assert all(c["simulated"] is True and c["label"] == LABEL for c in caps)
        assert all(c["totals"]["VCPU"] == {"total": 512.0, "used": 0} for c in caps)
        _request_flow(demo)

        admin = demo.client("network_admin")
        nodes = ok(admin.get("/api/v1/inventory/extranet_nodes", params={"limit": 1000}))["items"]
        down = {n["code"] for n in nodes if n["name"].endswith(DOWN_NOTE)}
        assert len(down) == 2  # two county nodes, down on purpose
        seen: list[dict[str, str]] = []
        while time.monotonic() - started < 60:  # the demo's own probe schedule, within a minute of start
            items = ok(admin.get("/api/v1/inventory/extranet_nodes", params={"limit": 1000}))["items"]
            seen.append({n["code"]: n["state"] for n in items})
            time.sleep(3)
        decided = [s for s in seen if "unknown" not in s.values()]
        assert decided, f"no sweep decided every node within a minute: {seen[-1]}"
        for states in decided:  # from the first full sweep on: up stays up, the down ones are down
            assert {c for c, st in states.items() if st == "down"} == down
            assert {st for c, st in states.items() if c not in down} == {"up"}
    finally:
        demo.stop()
    assert demo.proc.returncode is not None


def test_in_memory_cloud_is_reset_at_restart_and_the_drift_report_says_so(tmp_path: Path) -> None:
    demo = DemoServer.start(tmp_path, "--scale", "0.05", env={"YUNWANG_SCHEDULER_ENABLED": "false"})
    try:
        dept, operator = demo.client("department_user"), demo.client("cloud_operator")
        unit = ok(dept.get("/api/v1/inventory/units", params={"code": "DEMO-450100-D01"}))["items"][0]
        bundle = {"servers": [{"name": "web", "flavor": "m1.small", "image": "cirros-fake", "count": 1}]}
        body = {"title": "演示：重启", "unit_id": unit["id"], "dr_level": "none", "bundle": bundle}
        rid = ok(dept.post("/api/v1/requests", json=body), 201)["id"]
        assert ok(dept.post(f"/api/v1/requests/{rid}/submit"))["status"] == "approved"  # small: auto-approved
        cloud = ok(operator.post(f"/api/v1/requests/{rid}/schedule"))["primary_cloud"]
        made = ok(settled(operator, operator.post(f"/api/v1/requests/{rid}/provision"), {}))["resources"]
    finally:
        demo.stop()
    demo = DemoServer.start(tmp_path, env={"YUNWANG_SCHEDULER_ENABLED": "false"})  # same data: the cloud is new
    try:
        operator = demo.client("cloud_operator")
        drift = {d["cloud"]: d for d in ok(operator.get("/api/v1/clouds/drift"))}
        assert sorted(drift) == ["gov-guilin", "gov-nanning", "gov-wuzhou"]
        missing = sorted((f["kind"], f["name"]) for f in drift[cloud]["findings"] if f["type"] == "missing")
        assert missing == [("server", "web")]  # the one server it made (its project is not a drift finding)
        assert [r["kind"] for r in made] == ["server"]
        assert sum(d["missing"] for d in drift.values()) == 1
        retired = ok(
            settled(operator, operator.post(f"/api/v1/requests/{rid}/retire"), {})
        )  # deleting what is gone is not an error
        assert retired["status"] == "retired"
    finally:
        demo.stop()
