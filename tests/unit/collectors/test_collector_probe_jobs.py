"""Probe-now returns a job at once (202); progress and results come from GET …/probe-jobs/{id}. Loopback only."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.db import Database
from core.enums import Role
from orchestrator.app.settings import Settings
from tests.builders import Inv

URL = "/api/v1/collectors"


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    if os.geteuid() != 0:
        pytest.skip("not root: raw ICMP sockets need root")
    # 4 echoes 0.25 s apart: one ICMP sweep takes at least 0.75 s, so "at once" can be told from "after it"
    return Settings(
        database_url=db.url,
        data_dir=tmp_path / "data",
        scheduler_enabled=False,
        collector_icmp_count=4,
        collector_icmp_packet_interval_seconds=0.25,
        collector_icmp_timeout_seconds=0.5,
        collector_tcp_timeout_seconds=0.5,
        collector_retries=0,
    )


@pytest.fixture
def nodes(db: Database) -> dict[str, int]:
    with db.session() as s:
        inv = Inv(s)
        r = inv.region("region")
        top = inv.node(r, code="LO-1", address="127.0.0.1", tcp_ports="1")
        child = inv.node(r, "city", top, code="LO-2", address="127.0.0.2")
        return {"top": top, "child": child}


def wait(client: TestClient, job_id: str, seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"{URL}/probe-jobs/{job_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running after {seconds}s")


def test_probe_now_answers_202_with_a_job_then_progress_and_results(
    client: TestClient, nodes: dict[str, int], token_for: Callable[..., str]
) -> None:
    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    assert client.get(f"{URL}/probe-jobs").json() == []
    r = client.post(f"{URL}/probe", json={"node_id": nodes["top"], "subtree": True, "kinds": ["icmp", "tcp"]})
    assert r.status_code == 202, r.text
    job = r.json()
    # answered before the sweeps ran: the ICMP sweep alone takes ≥ 0.75 s and its results are not in yet
    assert job["status"] in ("queued", "running") and job["finished_at"] is None and job["sweeps"] == []
    assert r.headers["Location"] == f"{URL}/probe-jobs/{job['job_id']}"
    assert job["progress"] == {"done": 0, "total": 2, "ratio": 0.0, "current": job["progress"]["current"]}
    assert job["created_at"].endswith("+00:00")
    done = wait(client, job["job_id"])
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["progress"]["done"] == 2 and done["progress"]["ratio"] == 1.0
    icmp, tcp = done["sweeps"]
    assert (icmp["kind"], icmp["targets"], icmp["failures"]) == ("icmp", 2, 0)
    assert {x["node_id"] for x in icmp["results"]} == {nodes["top"], nodes["child"]}
    assert all(x["ok"] and x["loss_ratio"] == 0 for x in icmp["results"])
    assert (tcp["kind"], tcp["targets"], tcp["failures"]) == ("tcp", 1, 1)  # 127.0.0.1:1 refuses
    assert tcp["results"][0]["error"] == "refused"
    runs = {j["id"]: j for j in client.get(f"{URL}/jobs").json()}
    assert runs["probe-now:icmp"]["last_run"]["targets"] == 2 and runs["probe-now:icmp"]["last_run"]["ok"]
    assert runs["probe-now:tcp"]["last_run"]["trigger"] == "manual"
    listed = client.get(f"{URL}/probe-jobs").json()
    assert listed[0]["job_id"] == job["job_id"] and "results" not in listed[0]["sweeps"][0]


def test_probe_jobs_need_a_writer_and_unknown_ids_are_404(
    client: TestClient, nodes: dict[str, int], token_for: Callable[..., str]
) -> None:
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    assert client.post(f"{URL}/probe", json={"node_id": nodes["top"]}).status_code == 403
    missing = client.get(f"{URL}/probe-jobs/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    assert client.post(f"{URL}/probe", json={"node_id": 999_999}).status_code == 404


def test_cli_follows_the_job_with_a_progress_bar(
    client: TestClient, nodes: dict[str, int], token_for: Callable[..., str]
) -> None:
    from rich.console import Console

    from orchestrator.app.probe_cli import ProbeFailed, run_probe

    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    console = Console(record=True, width=120, force_terminal=False)
    job = run_probe(client, "LO-1", ["icmp"], True, console, poll_seconds=0.05)
    assert job["status"] == "succeeded" and job["progress"]["done"] == 1
    out = console.export_text()
    assert "probing LO-1" in out and "100%" in out  # the bar, finished
    assert f"job {job['job_id']}: succeeded" in out and "icmp" in out
    with pytest.raises(ProbeFailed, match="no extranet node with code NOPE"):
        run_probe(client, "NOPE", ["icmp"], False, console)
