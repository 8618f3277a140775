"""The one error family (`AppError` and its kinds); `core.http` turns each into the one error body."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.redaction import SECRET_FIELD, redact


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (row, field) and what."""

    message: str
    field: str | None = None
    row: int | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {k: _mask(_cut(v) if k == "value" else v) for k, v in asdict(self).items() if v is not None}


ECHO_CHARS = 200  # a refused value is shown so the caller sees what was wrong, not sent back in full


def _cut(v: Any) -> Any:
    if isinstance(v, str) and len(v) > ECHO_CHARS:
        return f"{v[:ECHO_CHARS]}…（共 {len(v)} 字符 / {len(v)} characters）"
    return v


def _mask(v: Any) -> Any:
    # A token (yw_…) or password echoed back in an error body would leak it into browser consoles and proxies' logs.
    return redact(v) if isinstance(v, str) else v


def mask_secrets(value: Any, token: str | None = None) -> Any:
    """Token-like strings (and the caller's own token, whatever its form) masked anywhere in a JSON value."""
    if isinstance(value, str):
        if token and len(token) >= 4:
            value = value.replace(token, "***")
            secret_part = token.removeprefix("yw_")
            if len(secret_part) >= 16:  # the caller's own token sent without its fixed prefix
                value = value.replace(secret_part, "***")
        return _mask(value)
    if isinstance(value, dict):
        if SECRET_FIELD.search(str(value.get("field", ""))) and "value" in value:
            value = {k: v for k, v in value.items() if k != "value"}  # a mistyped secret is never echoed back
        return {k: mask_secrets(v, token) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, token) for v in value]
    return value


class AppError(Exception):
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


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"


class RuleViolation(AppError):
    status = 422
    code = "rule_violation"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Unavailable(AppError):
    """A part the request needs is not there now: the database busy (SQLite's writer held past the busy timeout)
    or unreachable (retry later), or a feature this deployment did not install."""

    status = 503
    code = "unavailable"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class TooLarge(AppError):
    status = 413
    code = "payload_too_large"
