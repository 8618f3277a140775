"""Input that the store cannot hold is a 422 in the one error shape, on every router, and nothing is written.

2^63 in a path, filter, offset or body; NaN/Infinity; negative sizes; NUL bytes; lone surrogates;
over-long strings; unbounded limits. Table counts before and after prove nothing was written. The
change log refuses a snapshot that would break as-of reads (NaN), whichever package records it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from core.audit import ChangeContext, record_change
from core.db import Database
from core.enums import ChangeAction, Role
from core.errors import ValidationFailed
from core.identity import create_token
from core.models import ChangeLog
from inventory import queries, service
from inventory.kinds import KINDS
from inventory.models import InformationSystem
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

API = "/api/v1/inventory"
BIG = 2**63


@pytest.fixture
def guarded(any_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Database, dict[str, int]]]:
    """An admin client on SQLite or PostgreSQL with a small inventory."""
    with any_db.session() as s:
        b = Inv(s).basic()
        b["system"] = Inv(s).system(b["unit"], room_id=b["room"], vcpus=4, memory_gb=8.0)
        token = create_token(s, "guard-admin", Role.ADMIN)
    app = create_app(
        Settings(database_url=any_db.url, data_dir=tmp_path / "d", scheduler_enabled=False),
        registry=CollectorRegistry(),
        database=any_db,
    )
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, any_db, b


def counts(db: Database) -> dict[str, int]:
    """Rows per inventory table and in the change log."""
    with db.session() as s:
        out = {k: s.scalar(select(func.count()).select_from(spec.model)) or 0 for k, spec in KINDS.items()}
        out["change_log"] = s.scalar(select(func.count()).select_from(ChangeLog)) or 0
    return out


def assert_refused(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 422, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == "validation_failed", body
    assert body["error"]["details"], body
    out: dict[str, Any] = body
    return out


def raw_json(client: TestClient, method: str, url: str, text: str) -> Any:
    return client.request(
        method, url, content=text.encode("utf-8", "surrogatepass"), headers={"content-type": "application/json"}
    )


def test_bad_input_on_every_router_is_422_and_writes_nothing(
    guarded: tuple[TestClient, Database, dict[str, int]],
) -> None:
    client, db, b = guarded
    sid, unit = b["system"], b["unit"]
    before = counts(db)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        # 2^63 in a path, a filter, an offset, a body
        ("GET", f"{API}/systems/{BIG}", {}),
        ("PATCH", f"{API}/systems/{BIG}", {"json": {"name": "x"}}),
        ("DELETE", f"{API}/systems/{BIG}", {}),
        ("GET", f"{API}/systems?id={BIG}", {}),
        ("GET", f"{API}/systems?offset={BIG}", {}),
        ("GET", f"{API}/changes?offset={BIG}", {}),
        ("GET", f"{API}/changes?object_id={BIG}", {}),
        ("PATCH", f"{API}/systems/{sid}", {"json": {"vcpus": BIG}}),
        ("POST", f"{API}/systems/bulk", {"json": {"delete": [BIG]}}),
        ("GET", f"/api/v1/requests/{BIG}", {}),
        ("GET", f"/api/v1/requests?offset={BIG}", {}),
        ("GET", f"/api/v1/events?since_id={BIG}", {}),
        ("GET", f"/api/v1/quotas/{BIG}", {}),
        ("PUT", f"/api/v1/quotas/{unit}", {"json": {"vcpus": BIG}}),
        ("POST", "/api/v1/requests", {"json": {"title": "t", "unit_id": BIG, "bundle": {"servers": []}}}),
        ("POST", "/api/v1/collectors/probe", {"json": {"node_id": BIG}}),
        ("GET", f"/api/v1/collectors/availability?node_id={BIG}", {}),
        ("GET", f"/api/v1/plan/readiness/{BIG}", {}),
        ("GET", f"/api/v1/plan/waves/{BIG}", {}),
        ("POST", "/api/v1/plan/retirements", {"json": {"system_id": BIG}}),
        ("POST", f"/api/v1/plan/items/{BIG}/status", {"json": {"status": "planned"}}),
        ("GET", f"/api/v1/rates/systems_migrated/items?offset={BIG}", {}),
        # unbounded limit
        ("GET", f"{API}/systems?limit=100000", {}),
        ("GET", "/api/v1/requests?limit=100000", {}),
        ("GET", "/api/v1/events?limit=100000", {}),
        ("GET", f"{API}/changes?limit=100000", {}),
        ("GET", "/api/v1/rates/systems_migrated/items?limit=100000", {}),
        # negative sizes
        ("PATCH", f"{API}/systems/{sid}", {"json": {"vcpus": -1}}),
        ("PATCH", f"{API}/systems/{sid}", {"json": {"memory_gb": -0.5}}),
        ("PUT", f"/api/v1/quotas/{unit}", {"json": {"ram_mb": -1}}),
        # NUL bytes and over-long strings in bodies and query strings
        ("PATCH", f"{API}/systems/{sid}", {"json": {"name": "a\x00b"}}),
        ("PATCH", f"{API}/systems/{sid}", {"json": {"name": "长" * 201}}),
        ("POST", "/api/v1/plan/waves", {"json": {"name": "x" * 201}}),
        ("GET", f"{API}/systems?q=a%00b", {}),
        ("GET", f"{API}/systems?name=" + "x" * 1001, {}),
        ("GET", "/api/v1/rates/systems_migrated/items?unit=a%00", {}),
        ("GET", "/api/v1/collectors/nodes?level=a%00", {}),
        ("GET", f"{API}/systems/%00", {}),
        # lone surrogates (not UTF-8) in a query string
        ("GET", f"{API}/systems?name=%ED%A0%80", {}),
        ("GET", "/api/v1/requests?x=%ff", {}),
        # times
        ("GET", f"{API}/systems?as_of=2024-02-30", {}),
        ("GET", "/api/v1/rates?as_of=soon", {}),
    ]
    failures = []
    for method, url, kw in cases:
        resp = client.request(method, url, **kw)
        if resp.status_code != 422 or set(resp.json()) != {"error"}:
            failures.append(f"{method} {url[:80]} {kw!s:.80}: {resp.status_code} {resp.text[:160]}")
    # NaN/Infinity literals and lone surrogates inside JSON bodies (json.loads accepts them; we do not)
    raw_bodies = [
        ("PATCH", f"{API}/systems/{sid}", '{"memory_gb": NaN}'),
        ("PATCH", f"{API}/systems/{sid}", '{"storage_gb": Infinity}'),
        ("PATCH", f"{API}/systems/{sid}", '{"memory_gb": -Infinity}'),
        ("PATCH", f"{API}/systems/{sid}", '{"name": "\\ud800"}'),
        ("PATCH", f"{API}/systems/{sid}", '{"name": "a\\u0000b"}'),
        ("PATCH", f"{API}/systems/{sid}", '{"vcpus": 1e400}'),
        ("POST", f"{API}/systems/bulk", '{"update": [{"id": ' + str(sid) + ', "memory_gb": NaN}]}'),
        ("POST", "/api/v1/plan/zombies/score", '{"utilisation": {"1": {"cpu_ratio": NaN, "days": 1}}}'),
        ("POST", "/api/v1/plan/zombies/score", '{"utilisation": {"' + str(BIG) + '": {"cpu_ratio": 0.1, "days": 1}}}'),
        ("PUT", f"/api/v1/quotas/{unit}", '{"vcpus": ' + str(BIG * 4) + "}"),
        ("PUT", "/api/v1/collectors/credentials/dev", '{"username": "\\udfff", "password": "p"}'),
    ]
    for method, url, text in raw_bodies:
        resp = raw_json(client, method, url, text)
        if resp.status_code != 422 or set(resp.json()) != {"error"}:
            failures.append(f"{method} {url} {text[:60]}: {resp.status_code} {resp.text[:160]}")
    assert not failures, "\n".join(failures)
    assert counts(db) == before
    with db.session() as s:
        row = s.get(InformationSystem, sid)
        assert row is not None and (row.vcpus, row.memory_gb, row.storage_gb) == (4, 8.0, None)


def test_error_body_names_the_problem(guarded: tuple[TestClient, Database, dict[str, int]]) -> None:
    client, _, b = guarded
    body = assert_refused(raw_json(client, "PATCH", f"{API}/systems/{b['system']}", '{"memory_gb": NaN}'))
    assert "NaN" in body["error"]["details"][0]["message"]
    body = assert_refused(client.get(f"{API}/systems", params={"vcpus": str(BIG)}))
    assert body["error"]["details"] == [
        {"message": "integer outside the database range / 整数超出范围", "field": "vcpus", "value": str(BIG)}
    ]
    body = assert_refused(client.get(f"{API}/systems/{BIG}"))
    assert body["error"]["details"][0]["field"] == "obj_id"


def test_change_log_never_stores_what_breaks_as_of(any_db: Database) -> None:
    """Whatever package records a change, a NaN or a lone surrogate is refused and nothing is written."""
    ctx = ChangeContext(actor="tester", role="admin")
    with any_db.session() as s:
        b = Inv(s).basic()
        sid = Inv(s).system(b["unit"], room_id=b["room"])
    before = counts(any_db)
    for after in ({"memory_gb": float("nan")}, {"x": float("inf")}, {"name": "\ud800"}, {"n": "a\x00"}, {"i": BIG}):
        with pytest.raises(ValidationFailed), any_db.session() as s:
            record_change(s, ctx, "systems", sid, ChangeAction.DECIDE, None, after)
            s.flush()
    for bad in ({"memory_gb": float("nan")}, {"storage_gb": float("-inf")}, {"vcpus": -1}, {"name": "a\x00"}):
        with pytest.raises(ValidationFailed), any_db.session() as s:
            service.update(s, "systems", sid, bad, ctx)
    assert counts(any_db) == before
    with any_db.session() as s:  # as-of reads still work
        rows = queries.as_of(s, "systems", datetime.now(UTC))
        assert [r["id"] for r in rows] == [sid]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(
        [
            "name",
            "code__contains",
            "vcpus__gte",
            "memory_gb__lt",
            "classified",
            "status__in",
            "status_changed_at__gt",
            "last_access_at",
            "id",
            "q",
            "sort",
            "limit",
            "offset",
            "as_of",
        ]
    ),
    value=st.one_of(
        st.text(max_size=40),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["nan", "inf", "-inf", "true", "否", "2024-01-01", "2024-01-01T08:00:00+08:00", "%", "_"]),
    ),
)
def test_arbitrary_list_parameters_never_5xx_and_write_nothing(
    guarded: tuple[TestClient, Database, dict[str, int]], key: str, value: str
) -> None:
    client, db, _ = guarded
    before = counts(db)
    for extra in ({}, {"as_of": "2099-01-01T00:00:00"}):
        resp = client.get(f"{API}/systems", params={key: value, **extra})
        assert resp.status_code in (200, 422), (key, value, resp.status_code, resp.text)
        if resp.status_code == 422:
            assert set(resp.json()) == {"error"}
    assert counts(db) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.sampled_from(["name", "vcpus", "memory_gb", "users_count", "last_access_at", "status_changed_at", "code"]),
        st.one_of(
            st.text(max_size=300),
            st.integers(min_value=-(2**70), max_value=2**70),
            st.floats(allow_nan=False, allow_infinity=False),
            st.none(),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_arbitrary_patch_bodies_never_5xx(
    guarded: tuple[TestClient, Database, dict[str, int]], body: dict[str, Any]
) -> None:
    client, db, b = guarded
    resp = client.patch(f"{API}/systems/{b['system']}", json=body)
    assert resp.status_code in (200, 409, 422), (body, resp.status_code, resp.text)
    with db.session() as s:  # whatever was accepted can be read back as of now
        assert len(queries.as_of(s, "systems", datetime.now(UTC))) == 1


def test_a_body_over_16_mib_is_refused_with_413_before_it_is_read(admin: TestClient) -> None:
    before = admin.get("/api/v1/inventory/changes?limit=1").json()["total"]
    big = b'{"code": "X", "name": "' + b"a" * (16 * 1024 * 1024) + b'"}'  # 16 MiB + 25 bytes (23 before, 2 after)
    r = admin.post("/api/v1/inventory/units", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text[:300]
    err = r.json()["error"]
    assert err["code"] == "payload_too_large" and err["details"][0]["field"] == "body"
    assert err["details"][0]["value"] == 16 * 1024 * 1024 + 25
    assert len(r.content) < 2000  # nothing of the body comes back
    assert admin.get("/api/v1/inventory/changes?limit=1").json()["total"] == before


def test_a_refused_long_value_is_echoed_cut_with_its_length(admin: TestClient) -> None:
    r = admin.get("/api/v1/inventory/units", params={"sort": "z" * 450})
    assert r.status_code == 422, r.text[:300]
    values = [d.get("value") for d in r.json()["error"]["details"]]
    assert any(isinstance(v, str) and v.startswith("z" * 200 + "…") and "450" in v for v in values), values
    assert "z" * 201 not in r.text
