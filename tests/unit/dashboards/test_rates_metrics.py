"""The exporter: cached snapshot, names and labels, target gauges, health metrics and /metrics auth."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from core.db import Database
from core.enums import Role
from core.wiring import DATABASE, services
from dashboards import rates
from dashboards.metrics import RATES_EXPORTER, RatesExporter
from tests import known_rates


@pytest.fixture
def known(db: Database) -> Database:
    with db.session() as s:
        known_rates.build(s)
    return db


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float | None:  # type: ignore[type-arg]
    return found.get((name, tuple(sorted(labels.items()))))


def test_metrics_needs_a_token(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 401
    assert "yunwang_" not in r.text


def test_scoped_roles_may_not_scrape_every_unit(client: TestClient, token_for: Callable[..., str]) -> None:
    from sqlalchemy import select

    from inventory.models import Unit
    from tests.builders import Inv

    db = services(client.app).get(DATABASE)  # type: ignore[arg-type]
    with db.session() as s:
        Inv(s).basic()
        s.commit()
        unit = s.scalar(select(Unit.id).limit(1))
    client.headers["Authorization"] = f"Bearer {token_for(Role.DEPARTMENT_USER, unit)}"
    r = client.get("/metrics")
    assert r.status_code == 403
    assert "yunwang_rate" not in r.text
    client.headers["Authorization"] = f"Bearer {token_for(Role.NETWORK_ADMIN)}"
    assert client.get("/metrics").status_code == 200


def test_metrics_serve_the_snapshot_with_unit_city_level_labels(
    client: TestClient, known: Database, token_for: Callable[..., str]
) -> None:
    services(client.app).get(RATES_EXPORTER).recompute()  # type: ignore[arg-type]
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    r = client.get("/metrics")
    assert r.status_code == 200
    found = samples(r.text)
    lab = {"rate": "systems_migrated", "unit": "GU", "city": "450300", "level": "city"}
    assert value(found, "yunwang_rate_numerator_items", **lab) == 1
    assert value(found, "yunwang_rate_denominator_items", **lab) == 1
    assert value(found, "yunwang_rate_ratio", **lab) == 1.0
    assert value(found, "yunwang_rate_excluded_items", reason="retired", **lab) == 1
    ku = {"rate": "networks_interconnected", "unit": "KU", "city": "450100", "level": "county"}
    assert value(found, "yunwang_rate_denominator_items", **ku) == 1
    assert value(found, "yunwang_rate_ratio", **ku) == 0.0
    nu = {"rate": "systems_migrated", "unit": "NU", "city": "450100", "level": "city"}
    assert value(found, "yunwang_rate_ratio", **nu) == 1.0
    # sums of unit counters are the engine's overall figures
    for key in rates.RateKey:
        num = sum(v for (n, lbl), v in found.items() if n == "yunwang_rate_numerator_items" and ("rate", key) in lbl)
        den = sum(v for (n, lbl), v in found.items() if n == "yunwang_rate_denominator_items" and ("rate", key) in lbl)
        with known.session() as s:
            overall = rates.compute(s, key).overall
        assert (num, den) == (overall.numerator, overall.denominator)
    assert value(found, "yunwang_rate_target_ratio", rate="horizontal_access") == 1.0
    assert value(found, "yunwang_rate_target_schedule_ratio", rate="horizontal_access", deadline="2021-12-31") == 0.7
    assert (value(found, "yunwang_rates_last_success_timestamp_seconds") or 0) > 0
    assert value(found, "yunwang_rates_recompute_failures_total") == 0
    assert "yw_" not in r.text  # no token in the output
    types = [line.split()[2] for line in r.text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))  # pre-rendered rates are not repeated by the registry
    assert "yunwang_rate_ratio" in types and "yunwang_http_request_duration_seconds" in types


def test_a_scrape_runs_no_query(known: Database) -> None:
    registry = CollectorRegistry()
    exporter = RatesExporter(known, registry, 60)
    exporter.recompute()
    known.engine.dispose()
    statements: list[str] = []
    from sqlalchemy import event

    event.listen(known.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    before = samples(generate(registry))
    assert value(before, "yunwang_rate_numerator_items", rate="items_docked", unit="RU1", city="450000", level="region")
    assert statements == []


def generate(registry: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


def test_request_latency_is_labelled_by_route_template(admin: TestClient, known: Database) -> None:
    assert admin.get("/api/v1/rates/systems_migrated").status_code == 200
    assert admin.get("/api/v1/rates/items_docked/items").status_code == 200
    assert admin.get("/no/such/path/123").status_code == 404
    found = samples(admin.get("/metrics").text)
    counts = {
        dict(lbl)["route"]: v for (n, lbl), v in found.items() if n == "yunwang_http_request_duration_seconds_count"
    }
    assert counts.get("/api/v1/rates/{key}") == 1
    assert counts.get("/api/v1/rates/{key}/items") == 1
    assert "<unmatched>" in counts
    assert not any("systems_migrated" in route for route in counts)


def test_failed_recompute_is_counted_and_keeps_the_last_snapshot(known: Database) -> None:
    registry = CollectorRegistry()
    exporter = RatesExporter(known, registry, 60)
    good = exporter.recompute()
    exporter.db = Database("sqlite:////nonexistent/dir/x.db")
    with pytest.raises(Exception):  # noqa: B017
        exporter.recompute()
    found = samples(generate(registry))
    assert value(found, "yunwang_rates_recompute_failures_total") == 1
    assert value(found, "yunwang_rates_last_success_timestamp_seconds") == good.computed_at
    assert exporter.collector.snapshot is good


def test_recompute_runs_as_a_job_on_the_app_scheduler_and_stops(known: Database) -> None:
    import time

    from core.jobs import Jobs
    from dashboards.metrics import RECOMPUTE_JOB

    registry = CollectorRegistry()
    exporter = RatesExporter(known, registry, 0.2)
    jobs = Jobs(known, name="rates-test")
    exporter.schedule(jobs)
    assert RECOMPUTE_JOB not in jobs.tasks  # a per-process job: no lease, no run record
    jobs.start(persistent=False)  # per-process jobs run even where the persistent jobs are disabled
    try:
        deadline = time.monotonic() + 20
        while exporter.collector.snapshot is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first = exporter.collector.snapshot
        assert first is not None  # run at start, not only after the first interval
        while exporter.collector.snapshot is first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exporter.collector.snapshot is not first
    finally:
        jobs.stop()
    assert not jobs.scheduler.running and not jobs.local_scheduler.running
