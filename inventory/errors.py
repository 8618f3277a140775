"""Errors the inventory raises; the API turns each into one consistent error body."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (row, field) and what."""

    message: str
    field: str | None = None
    row: int | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class InventoryError(Exception):
    """Base error: an HTTP status, a stable code and the problems behind it."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": [p.as_dict() for p in self.problems],
            }
        }


class ValidationFailed(InventoryError):
    status = 422
    code = "validation_failed"


class RuleViolation(InventoryError):
    status = 422
    code = "rule_violation"


class NotFound(InventoryError):
    status = 404
    code = "not_found"


class Conflict(InventoryError):
    status = 409
    code = "conflict"


class Forbidden(InventoryError):
    status = 403
    code = "forbidden"


class Unauthorized(InventoryError):
    status = 401
    code = "unauthorized"


class TooLarge(InventoryError):
    status = 413
    code = "payload_too_large"
