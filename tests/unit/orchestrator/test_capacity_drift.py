"""Capacity samples, drift reconciliation, the clouds API (roles) and the metrics, on the in-memory driver."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from core.db import Database
from core.enums import Role
from orchestrator.provisioning import runs as provision_module
from orchestrator.provisioning.api import get_clouds
from orchestrator.provisioning.capacity import collect_capacity, reconcile, sweep
from orchestrator.provisioning.clouds import Clouds
from orchestrator.provisioning.driver import CloudObject, InMemoryDriver
from orchestrator.provisioning.plan import NetworkSpec, ProvisionPlan, ResourceKind, ServerSpec, VolumeSpec
from orchestrator.provisioning.runs import RetryPolicy, provision


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision_module, "RETRY", RetryPolicy(attempts=2, initial_s=0.001, max_s=0.002))


def plan(request_id: str = "R-1") -> ProvisionPlan:
    return ProvisionPlan(
        request_id=request_id,
        cloud="mem",
        project="unit-a",
        unit_code="A",
        servers=(ServerSpec("s", "m1.tiny", "img", count=2),),
        volumes=(VolumeSpec("v", 1, attach_to="s-1"),),
        networks=(NetworkSpec("n", "10.0.0.0/24"),),
    )


def test_drift_reports_missing_changed_and_unknown(db: Database) -> None:
    d = InMemoryDriver()
    assert provision(db, plan(), d).ok
    clean = reconcile(db, d)
    assert (clean.missing, clean.changed, clean.unknown) == ([], [], [])
    servers = [o for o in d.objects.values() if o.kind == ResourceKind.SERVER]
    del d.objects[servers[0].cloud_id]  # deleted behind yunwang's back
    s2 = servers[1]
    d.objects[s2.cloud_id] = CloudObject(s2.kind, s2.cloud_id, s2.name, s2.project_id, s2.marker, "SHUTOFF", {})
    pid = d.projects["unit-a"]
    d.add_foreign(ResourceKind.SERVER, pid, "hand-made")
    drift = reconcile(db, d)
    assert [f["name"] for f in drift.missing] == [servers[0].name]
    assert [(f["name"], f["status"]) for f in drift.changed] == [(s2.name, "SHUTOFF")]
    assert [f["name"] for f in drift.unknown] == ["hand-made"]


def test_capacity_samples_and_sweep(db: Database) -> None:
    d = InMemoryDriver(hosts={"h1": {"VCPU": (8.0, 0)}, "h2": {"VCPU": (4.0, 0)}})
    caps, errors = collect_capacity(db, [d])
    assert errors == [] and caps[0].totals()["VCPU"] == (12.0, 0)
    assert sweep(db, lambda: [d]) == (1, 0)


def test_clouds_api_roles_and_metrics(
    db: Database, client: TestClient, token_for: Callable[..., str], registry: CollectorRegistry
) -> None:
    d = InMemoryDriver()
    client.app.dependency_overrides[get_clouds] = lambda: Clouds.of({d.cloud: d})  # type: ignore[attr-defined]
    assert provision(db, plan("R-9"), d).ok
    op = {"Authorization": f"Bearer {token_for(Role.CLOUD_OPERATOR)}"}
    user = {"Authorization": f"Bearer {token_for(Role.NETWORK_ADMIN)}"}
    assert client.post("/api/v1/clouds/sweep", headers=op).json() == {"clouds": 1, "failures": 0}
    cap = client.get("/api/v1/clouds/capacity", headers=op).json()
    assert cap[0]["cloud"] == "mem" and cap[0]["totals"]["VCPU"]["total"] == 16.0
    drift = client.get("/api/v1/clouds/drift", headers=op).json()
    assert drift[0]["ok"] and drift[0]["missing"] == 0
    steps = client.get("/api/v1/clouds/provisioning/R-9/steps", headers=op).json()
    assert [s["key"] for s in steps][:2] == ["project", "network:n"]
    assert client.get("/api/v1/clouds/provisioning/nope/steps", headers=op).status_code == 404
    for path in ("/api/v1/clouds/capacity", "/api/v1/clouds/drift", "/api/v1/clouds/provisioning/R-9/steps"):
        assert client.get(path, headers=user).status_code == 403
    assert client.post("/api/v1/clouds/sweep", headers=user).status_code == 403
    text = generate_latest(registry).decode()
    assert 'yunwang_cloud_capacity{cloud="mem",resource_class="VCPU"} 16.0' in text
    assert 'yunwang_provision_runs{cloud="mem",status="done"} 1.0' in text
    assert 'yunwang_provision_duration_seconds_count{cloud="mem"} 1.0' in text
    assert 'yunwang_cloud_drift{cloud="mem",type="unknown"} 0.0' in text
    assert "secret" not in text


def test_cloud_cli_steps_and_missing_clouds_yaml(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from orchestrator.app.cli import app as cli

    assert provision(db, plan("R-CLI"), InMemoryDriver()).ok
    monkeypatch.setenv("YUNWANG_DATABASE_URL", db.url)
    monkeypatch.delenv("YUNWANG_CLOUDS_YAML", raising=False)
    runner = CliRunner()
    out = runner.invoke(cli, ["cloud", "steps", "R-CLI"])
    assert out.exit_code == 0 and "server:s-1" in out.output
    assert runner.invoke(cli, ["cloud", "sweep"]).exit_code == 2
