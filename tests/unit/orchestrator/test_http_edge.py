"""The HTTP edge (core/http.py) through the app: headers, error shape, log line, OpenAPI, docs."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.permissions import PUBLIC
from orchestrator.app.permission_table import PERMISSIONS

API = "/api/v1/inventory"


def test_security_headers_and_no_store_on_the_api(admin: TestClient) -> None:
    resp = admin.get(f"{API}/regions")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-content-type-options"] == "nosniff"
    csp = resp.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "script-src 'self';" in csp
    assert resp.headers["x-frame-options"] == "DENY"
    health = admin.get("/healthz")
    assert health.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in health.headers  # no-store is for /api/


def test_unknown_route_and_405_in_the_error_shape(admin: TestClient) -> None:
    resp = admin.delete(f"{API}/regions")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"
    assert resp.json()["error"]["code"] == "method_not_allowed"
    missing = admin.get("/api/v1/nope", headers={"X-Request-ID": "abc-123"})
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "not_found", "message": "Not Found", "details": [], "request_id": "abc-123"}
    }


def test_token_never_echoed_and_request_id_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    token = "plain-secret-token-without-prefix"
    with caplog.at_level(logging.INFO, logger="yunwang.http"):
        resp = client.get(f"{API}/regions", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "rid-7"})
    assert resp.status_code == 401
    assert resp.json()["error"]["request_id"] == "rid-7"
    assert token not in resp.text
    assert "GET /api/v1/inventory/regions 401" in caplog.text and "request_id=rid-7" in caplog.text
    assert token not in caplog.text


def test_unhandled_error_is_a_500_in_the_shape(
    app: FastAPI, admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PERMISSIONS, ("GET", "/api/v1/test-boom"), PUBLIC)

    @app.get("/api/v1/test-boom")
    def boom() -> None:
        raise RuntimeError("kaput yw_abcdefghijklmnop")

    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.get("/api/v1/test-boom", headers={"X-Request-ID": "r500"})
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "internal_error"
    assert resp.json()["error"]["request_id"] == "r500"
    assert "kaput" not in resp.text and "yw_abcdefghijklmnop" not in resp.text
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_openapi_bearer_scheme_and_error_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "API token (yunwang token create) / API 令牌",
    }
    op = spec["paths"]["/api/v1/inventory/regions"]["post"]
    assert op["security"] == [{"bearerAuth": []}]
    for code in ("401", "403", "404", "409", "413", "422", "500"):
        assert op["responses"][code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "#/components/schemas/HTTPValidationError" not in json.dumps(spec["paths"]["/api/v1/inventory/regions"])


def test_docs_pages_use_only_local_assets(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "http://" not in html and "https://" not in html and "cdn" not in html.lower()
    assert "SwaggerUIBundle" in client.get("/docs-init.js").text
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-static/redoc.standalone.js").status_code == 200


@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, '{"a":' * 3000 + "1" + "}" * 3000])
def test_deeply_nested_json_is_a_422_even_without_a_token(client: TestClient, body: str) -> None:
    for path in ("/api/v1/inventory/systems", "/healthz"):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (path, r.status_code, r.text[:200])
        assert "嵌套过深" in r.json()["error"]["details"][0]["message"]


def test_a_busy_or_lost_database_is_a_503_with_retry_after(admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from inventory import queries

    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(queries, "list_objects", locked)
    r = admin.get("/api/v1/inventory/systems")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.json()["error"]["code"] == "unavailable" and r.json()["error"]["request_id"]
    assert admin.get("/healthz").status_code == 200
