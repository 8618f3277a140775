"""Pydantic in/out models, generated from each kind's table so API, import and store agree."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from sqlalchemy import Enum, String, inspect
from sqlalchemy.sql.schema import Column as SAColumn

from core.times import InputTime, OutputTime
from core.validation import INT32_MAX, MAX_TEXT, SafeStr
from inventory.kinds import KINDS, KindSpec

_SKIP = {"id", "created_at", "updated_at"}


def _python_type(col: SAColumn[Any]) -> Any:
    try:
        return col.type.python_type
    except NotImplementedError:  # JSON
        return dict[str, Any]


def _field_for(col: SAColumn[Any], optional: bool) -> tuple[Any, Any]:
    typ = _python_type(col)
    kwargs: dict[str, Any] = {}
    if typ is str and not isinstance(col.type, Enum):
        typ = SafeStr  # no NUL, no lone surrogate
        kwargs["max_length"] = col.type.length if isinstance(col.type, String) and col.type.length else MAX_TEXT
        if col.name == "code":
            kwargs["min_length"] = 1
    if typ is datetime:
        typ = InputTime  # naive = Beijing time, stored UTC
    if typ in (int, float):
        # Counts, sizes, ports, bandwidths and ids: never negative, inside the 32-bit columns.
        kwargs["ge"] = 0
        kwargs["le"] = INT32_MAX
    required = not col.nullable and col.default is None and col.server_default is None
    if optional or not required:
        # a NOT NULL column may be left out (unset: default or unchanged) but never sent as null
        return (typ | None if col.nullable else typ, Field(default=None, **kwargs))
    return (typ, Field(..., **kwargs))


class InModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


@cache
def create_schema(kind: str) -> type[BaseModel]:
    """The body accepted when creating one object of this kind."""
    return _build(KINDS[kind], optional=False, suffix="Create")


@cache
def update_schema(kind: str) -> type[BaseModel]:
    """The body accepted when patching: every field optional, unknown fields rejected."""
    return _build(KINDS[kind], optional=True, suffix="Update")


@cache
def out_schema(kind: str) -> type[BaseModel]:
    """What the API returns for one object."""
    spec = KINDS[kind]
    cols = inspect(spec.model).columns
    fields: dict[str, Any] = {"id": (int, ...)}
    for col in cols:
        if col.name == "id":
            continue
        fields[col.name] = (_out_type(col) | None, None)
    for link in spec.links:
        fields[link.field] = (list[int], Field(default_factory=list))
    return create_model(f"{_camel(kind)}Out", __base__=OutModel, **fields)


def _out_type(col: SAColumn[Any]) -> Any:
    """A column's type as returned: times with their offset, JSON columns as objects."""
    typ = _python_type(col)
    if typ is datetime:
        return OutputTime
    if typ is object:  # JSON (device facts)
        return dict[str, Any]
    return typ


@cache
def page_schema(kind: str) -> type[BaseModel]:
    """One page of a kind's list; `as_of` only when the list was read as of a time."""
    items: Any = list[out_schema(kind)]  # type: ignore[misc]
    return create_model(
        f"{_camel(kind)}Page",
        __base__=OutModel,
        items=(items, ...),
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
        as_of=(OutputTime | None, None),
    )


def _build(spec: KindSpec, optional: bool, suffix: str) -> type[BaseModel]:
    cols = inspect(spec.model).columns
    fields: dict[str, Any] = {}
    for col in cols:
        if col.name in _SKIP:
            continue
        fields[col.name] = _field_for(col, optional)
    for link in spec.links:
        fields[link.field] = (list[Annotated[int, Field(ge=1, le=INT32_MAX)]] | None, Field(None, max_length=10_000))
    return create_model(f"{_camel(spec.name)}{suffix}", __base__=InModel, **fields)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class Page(BaseModel):
    """A page of a list."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


class ChangeOut(BaseModel):
    """One change-log entry."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    at: OutputTime
    actor: str
    actor_role: str | None
    kind: str
    object_id: int
    object_code: str | None
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    message: str | None
    request_id: str | None

    @field_validator("at")
    @classmethod
    def _stored_utc(cls, v: datetime) -> datetime:
        """SQLite hands back naive datetimes; they are stored UTC, so every returned time carries its offset."""
        return v if v.tzinfo else v.replace(tzinfo=UTC)


__all__ = ["ChangeOut", "Page", "create_schema", "date", "datetime", "out_schema", "page_schema", "update_schema"]
