"""Every JSON operation documents a real response schema; file routes declare their media types.

Walks the app's own /openapi.json: a success (2xx) response with a JSON body must have a schema that says
what it holds (properties, typed items or typed additionalProperties), never `{}` nor a bare object or a
list of bare objects. Offenders are listed by method, path and status.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

JsonSchema = dict[str, Any]
FILE_TYPES = {
    "text/csv",
    "text/html",
    "text/plain",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
SECRET_NAME = re.compile(r"password|secret|passphrase|auth_key|priv_key|community|^token$", re.I)


def _resolve(doc: JsonSchema, schema: JsonSchema) -> JsonSchema:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _typed(doc: JsonSchema, schema: JsonSchema) -> bool:
    """Whether a schema says what it holds (a bare object, a list of bare objects or `{}` does not)."""
    schema = _resolve(doc, schema)
    if "anyOf" in schema or "oneOf" in schema:
        choices: list[JsonSchema] = schema.get("anyOf") or schema.get("oneOf") or []
        options = [s for s in choices if s.get("type") != "null"]
        return bool(options) and all(_typed(doc, s) for s in options)
    if schema.get("type") == "object" or "properties" in schema:
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(extra, dict) and _typed(doc, extra))
    if schema.get("type") == "array":
        return isinstance(schema.get("items"), dict) and _typed(doc, schema["items"])
    return "type" in schema or "enum" in schema or "const" in schema


def untyped_operations(doc: JsonSchema) -> list[str]:
    """`METHOD path status` of every success response without a real schema (JSON) or media type (files)."""
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op.get("responses", {}).items():
                if not status.startswith("2") or status == "204":
                    continue
                content = response.get("content") or {}
                where = f"{method.upper()} {path} {status}"
                if "application/json" in content:
                    if not _typed(doc, content["application/json"].get("schema") or {}):
                        out.append(where)
                elif not set(content) & FILE_TYPES:
                    out.append(f"{where} (no media type)")
    return out


def secret_properties(doc: JsonSchema) -> list[str]:
    """Properties of any schema a success response refers to whose name is secret-like."""
    found: set[str] = set()
    seen: set[int] = set()

    def walk(schema: Any, where: str) -> None:
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen.add(id(schema))
        schema = _resolve(doc, schema)
        for name, sub in (schema.get("properties") or {}).items():
            if SECRET_NAME.search(name):
                found.add(f"{where}.{name}")
            walk(sub, f"{where}.{name}")
        for key in ("items", "additionalProperties"):
            walk(schema.get(key), where)
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where)

    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op.get("responses", {}).items():
                if status.startswith("2"):
                    for media in (response.get("content") or {}).values():
                        walk(media.get("schema"), f"{method.upper()} {path}")
    return sorted(found)


def test_every_success_response_has_a_real_schema(app: FastAPI, client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert untyped_operations(doc) == []


def test_the_checker_names_an_untyped_operation() -> None:
    doc: JsonSchema = {
        "paths": {
            "/a": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {}}}}}}},
            "/b": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/c/B"}}}}}}},
            "/c": {
                "post": {
                    "responses": {
                        "201": {
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"type": "object", "additionalProperties": True},
                                    }
                                }
                            }
                        }
                    }
                }
            },
            "/d": {"get": {"responses": {"200": {"content": {"text/csv": {}}}, "204": {}}}},
            "/e": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/c/E"}}}}}}},
        },
        "components": {
            "schemas": {
                "B": {"type": "object", "properties": {"n": {"type": "integer"}}},
                "E": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": True}},
            }
        },
    }
    assert untyped_operations(doc) == ["GET /a 200", "POST /c 201", "GET /e 200"]


def test_no_response_schema_has_a_secret_field(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert secret_properties(doc) == []


def test_credential_routes_show_names_only(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    listed = _resolve(
        doc,
        doc["paths"]["/api/v1/collectors/credentials"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]["items"],
    )
    stored = _resolve(
        doc,
        doc["paths"]["/api/v1/collectors/credentials/{name}"]["put"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ],
    )
    assert sorted(listed["properties"]) == ["name", "updated_at", "username"]
    assert sorted(stored["properties"]) == ["name", "stored_at", "username"]


def test_schema_names_are_plain_and_unique(client: TestClient) -> None:
    # Two models with one name get module-qualified names (`pkg__module__Name`) that change whenever a module
    # moves, which breaks generated clients; every model's name is unique instead.
    names = list(client.get("/openapi.json").json()["components"]["schemas"])
    assert [n for n in names if "__" in n] == []
