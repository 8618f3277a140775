"""The base of every response model: what a route returns, declared so /openapi.json shows a real schema.

Routes build their bodies as plain dicts (the shape clients already rely on); a response model names each
key and its type. `extra="ignore"`: a key the model does not name is dropped, so every key a route returns
must be declared (the unit suite ran with `extra="forbid"` to prove none is missing today;
tests/unit/orchestrator/test_openapi_schemas.py keeps every JSON operation typed).
Times go out as `core.times.OutputTime` (ISO 8601 with the offset). Secrets have no field here, ever.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


class ResponseModel(BaseModel):
    """A JSON body a route returns (built from the route's dict; attribute reads allowed)."""

    model_config = ConfigDict(extra="ignore", from_attributes=True, populate_by_name=True)


def _keep_offset(dt: datetime) -> str:
    return dt.isoformat()


AwareTime = Annotated[datetime, PlainSerializer(_keep_offset, return_type=str, when_used="json")]
"""A returned time that carries its own offset and keeps it (e.g. month ends in Beijing time, +08:00);
use `core.times.OutputTime` for stored times (returned in UTC)."""


class ProblemOut(BaseModel):
    """One thing wrong or noted (as `core.errors.Problem.as_dict`: keys without a value are left out)."""

    message: str
    field: str | None = None
    row: int | None = None
    value: Any = Field(None, description="the offending value (short; secrets masked)")


class HealthOut(BaseModel):
    """/healthz: the service and its database answer."""

    status: Literal["ok"]


class ReadyOut(BaseModel):
    """/readyz: the service, its database and its task backend (`celery`: the broker answered) are ready."""

    status: Literal["ready"]
    broker: str


Number = int | float
"""A number returned as the route computed it: a whole number stays `8` (not `8.0`), a fraction stays a fraction.
Use it instead of `float` in response models, so typed clients decoding integers keep working."""

__all__ = ["AwareTime", "HealthOut", "Number", "ProblemOut", "ReadyOut", "ResponseModel"]
