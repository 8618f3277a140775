"""Every route's declared input is bounded (issue 10): a new route with an unbounded int/string fails here.

The app's OpenAPI is walked: every path/query parameter and every request-body field, in every router
(inventory, requests, collectors, plan, dashboards, clouds, reports). Integers must declare a range inside
the database's (64-bit at most), numbers a range (NaN fails a range), strings a length, an enum or a
date format. Unbounded JSON values that slip past a declaration (NaN literals, 2^63, NUL, lone
surrogates) are refused centrally by core.validation.InputGuard (tested in test_input_guard.py).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

INT64 = 2**63 - 1
DATE_FORMATS = {"date", "date-time", "binary", "duration"}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def unbounded(spec: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:  # noqa: C901 - one branch per JSON-schema form
    """Where a schema accepts an integer/number/string without a bound."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen = seen | {name}
    s = _resolve(spec, schema)
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in s.get(key, []):
            found += unbounded(spec, sub, where, seen)
    typ = s.get("type")
    if typ == "integer":
        if s.get("maximum", s.get("exclusiveMaximum", INT64 + 1)) > INT64:
            found.append(f"{where}: integer without a maximum inside 2^63-1")
        if s.get("minimum", s.get("exclusiveMinimum", -INT64 - 2)) < -INT64 - 1:
            found.append(f"{where}: integer without a minimum inside -2^63")
    elif typ == "number":
        if "maximum" not in s and "exclusiveMaximum" not in s:
            found.append(f"{where}: number without a range")
    elif typ == "string":
        bounded_pattern = re.fullmatch(r"\^[^*+]*\$", s.get("pattern", ""))  # anchored, no unbounded repeat
        if (
            not ({"maxLength", "enum", "const"} & set(s))
            and s.get("format") not in DATE_FORMATS
            and not bounded_pattern
        ):
            found.append(f"{where}: string without maxLength")
    elif typ == "array":
        found += unbounded(spec, s.get("items", {}), f"{where}[]", seen)
    elif typ == "object" or "properties" in s:
        for name, sub in s.get("properties", {}).items():
            found += unbounded(spec, sub, f"{where}.{name}", seen)
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            found += unbounded(spec, extra, f"{where}.*", seen)
    return found


def test_every_declared_input_is_bounded(app: FastAPI) -> None:
    spec = app.openapi()
    problems: list[str] = []
    operations = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            operations += 1
            where = f"{method.upper()} {path}"
            for param in [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]:
                problems += unbounded(spec, param.get("schema", {}), f"{where} {param['in']} {param['name']}", set())
            for media in op.get("requestBody", {}).get("content", {}).values():
                problems += unbounded(spec, media.get("schema", {}), f"{where} body", set())
    assert operations > 100  # every kind's routes and every router are in the app
    assert not problems, "\n".join(problems)
