"""What a form needs to know about each field of a kind: its type, whether a new object needs it, its enum values
(with the Chinese label people use) and the kind a reference points at. Derived from the tables and the kind specs,
so a new column is described at once; served by `GET /api/v1/inventory/kinds` for the console's generated forms.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import String, inspect

from inventory.io import labels
from inventory.kinds import KINDS, KindSpec
from inventory.schemas import create_schema

FieldType = Literal[
    "text", "integer", "number", "boolean", "date", "datetime", "enum", "json", "reference", "references"
]


class EnumValueOut(BaseModel):
    """One allowed value of an enum field: the code the API takes and its Chinese label."""

    value: str
    zh: str | None


class FieldOut(BaseModel):
    """A column or link of a kind: names, type, whether a new object needs it, enum values, the kind it refers to."""

    field: str
    zh: str
    en: str
    ref: str | None
    type: FieldType
    required: bool
    nullable: bool
    max_length: int | None
    enum: list[EnumValueOut] | None


class KindOut(BaseModel):
    """A kind: names, its columns and links, the fields `q` searches, and whether the caller's role may write it."""

    name: str
    zh: str
    en: str
    columns: list[FieldOut]
    links: list[FieldOut]
    search_fields: list[str]
    writable: bool


_SCALARS: dict[Any, FieldType] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    date: "date",
    datetime: "datetime",
}


def _python_type(col: Any) -> Any:
    try:
        return col.type.python_type
    except NotImplementedError:  # JSON
        return dict


def _column(spec: KindSpec, name: str, zh: str, en: str, ref: str | None, required: set[str]) -> dict[str, Any]:
    col = inspect(spec.model).columns[name]
    py = _python_type(col)
    enum: list[dict[str, Any]] | None = None
    if ref is not None:
        typ: FieldType = "reference"
    elif isinstance(py, type) and issubclass(py, Enum):
        typ = "enum"
        enum = [{"value": m.value, "zh": labels.label(py, m.value)} for m in py]
    else:
        typ = _SCALARS.get(py, "json")
    length = col.type.length if isinstance(col.type, String) and typ == "text" else None
    return {
        "field": name,
        "zh": zh,
        "en": en,
        "ref": ref,
        "type": typ,
        "required": name in required,
        "nullable": bool(col.nullable),
        "max_length": length,
        "enum": enum,
    }


@cache
def kind_fields(kind: str) -> dict[str, Any]:
    """A kind's description without the caller-dependent part (`writable`)."""
    spec = KINDS[kind]
    required = {n for n, f in create_schema(kind).model_fields.items() if f.is_required()}
    return {
        "name": spec.name,
        "zh": spec.zh,
        "en": spec.en,
        "columns": [_column(spec, c.field, c.zh, c.en, c.ref, required) for c in spec.columns],
        "links": [
            {
                "field": lk.field,
                "zh": lk.zh,
                "en": lk.en,
                "ref": lk.ref,
                "type": "references",
                "required": False,
                "nullable": True,
                "max_length": None,
                "enum": None,
            }
            for lk in spec.links
        ],
        "search_fields": list(spec.search_fields),
    }


def describe(writable: frozenset[str]) -> list[KindOut]:
    """Every kind, marked writable when it is in the caller's role's writable kinds."""
    return [KindOut(**kind_fields(name), writable=name in writable) for name in KINDS]
