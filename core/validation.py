"""Shared input constraints: what any router, schema or the change log may accept.

The store's integer columns are 32-bit (`Integer` on PostgreSQL), JSON cannot hold NaN/Infinity,
PostgreSQL text cannot hold NUL, and UTF-8 cannot hold lone surrogates. Anything outside these
is refused with a 422 in the one error shape, before anything is written:

- `DbInt`, `Id`, `Count`, `Limit`, `Offset`: integers inside the database's range;
- `SafeStr` / `safe_text()`: no NUL, no lone surrogates, a bounded length;
- `check_json()`: a JSON-ready value (a change-log snapshot) has only finite numbers, safe strings
  and in-range integers;
- `InputGuard`: an ASGI middleware that applies the same to every request's path, query string and
  JSON body, so a new route is covered before it declares anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from annotated_types import Interval, MaxLen
from pydantic import AfterValidator

from core.errors import AppError, Problem, TooLarge, ValidationFailed

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_LIMIT = 1000
MAX_TEXT = 10_000  # longest free text (reasons, notes) accepted anywhere
MAX_PARAM = 1_000  # longest query-string value


def unsafe_reason(text: str) -> str | None:
    """Why a string cannot be stored (NUL byte, lone surrogate), or None when it can."""
    if "\x00" in text:
        return "contains a NUL byte / 含空字符"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode) / 含无效的Unicode代理字符"
    return None


def _safe(text: str) -> str:
    reason = unsafe_reason(text)
    if reason:
        raise ValueError(reason)
    return text


DbInt = Annotated[int, Interval(ge=INT32_MIN, le=INT32_MAX)]
Id = Annotated[int, Interval(ge=1, le=INT32_MAX)]
Count = Annotated[int, Interval(ge=0, le=INT32_MAX)]
Limit = Annotated[int, Interval(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Interval(ge=0, le=INT32_MAX)]
SafeStr = Annotated[str, AfterValidator(_safe), MaxLen(MAX_TEXT)]


def check_json(value: Any, where: str = "") -> list[Problem]:
    """Problems that keep a JSON-ready value out of the store (empty when it is fine)."""
    problems: list[Problem] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, bool) or v is None:
            return
        if isinstance(v, float):
            if not math.isfinite(v):
                problems.append(Problem("not a finite number (NaN/Infinity) / 非有限数值", field=path or None))
        elif isinstance(v, int):
            if not -INT64_MAX - 1 <= v <= INT64_MAX:
                problems.append(Problem("integer outside the database range / 整数超出范围", field=path or None))
        elif isinstance(v, str):
            reason = unsafe_reason(v)
            if reason:
                problems.append(Problem(reason, field=path or None))
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(k, path)
                walk(item, f"{path}.{k}" if path else str(k))
        elif isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                walk(item, f"{path}[{i}]")

    walk(value, where)
    return problems


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows / 不是合法的JSON数值")


MAX_JSON_DEPTH = 32  # no body of the API nests deeper than a few levels; deep nesting only exhausts recursion


def _nesting(text: str) -> int:
    """The deepest bracket nesting outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def check_json_body(body: bytes) -> list[Problem]:
    """Problems of a JSON request body (not JSON at all is left to the route's own parser)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return [Problem("body is not UTF-8 / 请求体不是UTF-8编码", field="body")]
    if _nesting(text) > MAX_JSON_DEPTH:
        return [Problem(f"JSON nested deeper than {MAX_JSON_DEPTH} levels / JSON嵌套过深", field="body")]
    try:
        value = json.loads(text, parse_constant=_json_constant)
    except ValueError as exc:
        if "JSON allows" in str(exc):
            return [Problem("NaN/Infinity are not numbers / NaN、Infinity不是合法数值", field="body")]
        return []  # malformed JSON: FastAPI answers with its own 422
    return check_json(value, "body")


def check_query(raw: bytes) -> list[Problem]:
    """Problems of a raw query string: percent-escapes that are not UTF-8, NUL, over-long values."""
    problems: list[Problem] = []
    for pair in raw.split(b"&"):
        if not pair:
            continue
        key, _, val = pair.partition(b"=")
        for part, label in ((key, "name"), (val, "value")):
            try:
                text = unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(f"query {label} is not valid UTF-8 / 参数不是合法的UTF-8", field="query"))
                continue
            name = unquote_to_bytes(key).decode("utf-8", "replace")
            reason = unsafe_reason(text)
            if reason:
                problems.append(Problem(reason, field=name))
            elif len(text) > MAX_PARAM:
                problems.append(Problem(f"longer than {MAX_PARAM} characters / 参数过长", field=name))
    return problems


def check_path(raw: str) -> list[Problem]:
    reason = unsafe_reason(raw)
    return [Problem(reason, field="path")] if reason else []


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class InputGuard:
    """ASGI middleware: refuse unstorable input on every route with 422 in the one error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
        try:
            path_text = unquote_to_bytes(raw_path).decode("utf-8")
            problems = check_path(path_text)
        except UnicodeDecodeError:
            problems = [Problem("path is not valid UTF-8 / 路径不是合法的UTF-8", field="path")]
        problems += check_query(scope.get("query_string", b""))
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"")
        replay: list[Message] = []
        # Files come as multipart and have their own limit (max_upload_bytes, 413 at the upload route); any other
        # body (JSON, a sign-in form) is small, so a larger one is refused before it is read into memory.
        if not problems and not content_type.startswith(b"multipart/"):
            declared = headers.get(b"content-length", b"")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                await _refuse(send, [_too_large(int(declared))], 413)
                return
        if not problems and b"json" in content_type:
            body = b""
            while True:
                message = await receive()
                replay.append(message)
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if len(body) > MAX_BODY_BYTES:  # chunked, without a length
                    await _refuse(send, [_too_large(len(body))], 413)
                    return
                if not message.get("more_body"):
                    break
            if body:
                problems = check_json_body(body)
        if problems:
            await _refuse(send, problems)
            return
        if replay:
            pending = list(replay)

            async def replayed() -> Message:
                return pending.pop(0) if pending else await receive()

            await self.app(scope, replayed, send)
            return
        await self.app(scope, receive, send)


MAX_BODY_BYTES = 16 * 1024 * 1024  # any JSON or form body; the largest real one, a bulk of 10,000 rows, is ~3 MB


def _too_large(size: int) -> Problem:
    return Problem(
        f"请求体过大（上限 {MAX_BODY_BYTES} 字节）/ body larger than {MAX_BODY_BYTES} bytes", field="body", value=size
    )


async def _refuse(send: Send, problems: list[Problem], status: int = 422) -> None:
    err: AppError = (
        TooLarge("请求过大 / request too large", problems)
        if status == 413
        else ValidationFailed("request validation failed", problems)
    )
    body = json.dumps(err.body(), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
