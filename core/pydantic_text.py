"""Pydantic validation errors as user-facing text: Chinese first, English beside (`应大于或等于 0 / must be ≥ 0`).

`inventory.service` turns every pydantic error into a `Problem` with `message(err)`; the importer splits it
with `split()` to name the row and the column's Chinese header around each half.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEPARATOR = " / "
FALLBACK_ZH = "取值无效"

_NUMBER = ("应为整数", "expected an integer")
_FLOAT = ("应为数字", "expected a number")
_BOOL = ("应为 是/否", "expected yes/no")
_DATE = ("应为日期，如 2024-01-31", "expected a date like 2024-01-31")
_DATETIME = ("应为时间，如 2024-01-31 09:30（无时区即北京时间）", "expected a date-time (no offset = Beijing time)")

# error type → (Chinese, English); `{name}` is filled from the error's context
_TEXTS: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("应大于或等于 {ge}", "must be ≥ {ge}"),
    "greater_than": ("应大于 {gt}", "must be > {gt}"),
    "less_than_equal": ("应小于或等于 {le}", "must be ≤ {le}"),
    "less_than": ("应小于 {lt}", "must be < {lt}"),
    "string_too_long": ("最多 {max_length} 个字符", "at most {max_length} characters"),
    "string_too_short": ("至少 {min_length} 个字符", "at least {min_length} characters"),
    "too_long": ("最多 {max_length} 项", "at most {max_length} items"),
    "too_short": ("至少 {min_length} 项", "at least {min_length} items"),
    "missing": ("必填", "required"),
    "extra_forbidden": ("不允许的字段", "unknown field"),
    "int_parsing": _NUMBER,
    "int_type": _NUMBER,
    "int_from_float": _NUMBER,
    "float_parsing": _FLOAT,
    "float_type": _FLOAT,
    "finite_number": ("应为有限的数字", "must be a finite number"),
    "bool_parsing": _BOOL,
    "bool_type": _BOOL,
    "string_type": ("应为文本", "expected text"),
    "list_type": ("应为编码列表", "expected a list"),
    "enum": ("应为以下值之一 {expected}", "expected one of {expected}"),
    "literal_error": ("应为以下值之一 {expected}", "expected one of {expected}"),
    "date_parsing": _DATE,
    "date_type": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "datetime_parsing": _DATETIME,
    "datetime_type": _DATETIME,
    "datetime_from_date_parsing": _DATETIME,
    "timezone_naive": _DATETIME,
    "timezone_aware": _DATETIME,
}


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _plain(value: Any) -> Any:
    """A limit as people write it: 0, not 0.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def split(message: str) -> tuple[str, str]:
    """(Chinese, English) halves of a message; an English-only one gets the generic Chinese `取值无效`."""
    left, sep, right = message.partition(SEPARATOR)
    if sep and _has_cjk(left) and not _has_cjk(right):
        return left, right
    if sep and _has_cjk(right) and not _has_cjk(left):
        return right, left
    return (message, message) if _has_cjk(message) else (FALLBACK_ZH, message)


def texts(err: Mapping[str, Any]) -> tuple[str, str]:
    """(Chinese, English) for one error of `ValidationError.errors()`."""
    ctx = dict(err.get("ctx") or {})
    if err.get("type") == "value_error":  # our own validators: their reason is already bilingual
        return split(str(ctx.get("error", err.get("msg", ""))))
    found = _TEXTS.get(str(err.get("type")))
    if found is None:
        return FALLBACK_ZH, str(err.get("msg", ""))
    ctx = {k: _plain(v) for k, v in ctx.items()}
    try:
        return found[0].format(**ctx), found[1].format(**ctx)
    except (KeyError, IndexError):
        return FALLBACK_ZH, str(err.get("msg", ""))


def message(err: Mapping[str, Any]) -> str:
    """One error as `中文 / English`."""
    zh, en = texts(err)
    return f"{zh}{SEPARATOR}{en}"
