"""The HTTP edge of the app: request ids, the one error body, security headers and offline API docs.

`RequestContext` is a plain ASGI middleware (no BaseHTTPMiddleware) placed inside Starlette's
ServerErrorMiddleware. It
- gives every request an id (a clean `X-Request-ID` from the client, or a new one), echoed in the response
  header, in every error body (`error.request_id`) and in the access log line;
- turns any unhandled exception into a 500 in the error shape *without re-raising*, so the server keeps the
  keep-alive connection open for the next request (a re-raised error makes uvicorn drop the connection);
- rewrites every JSON error body into `{"error": {"code", "message", "details", "request_id"}}` (bodies from
  other handlers such as `{"detail": …}` included) and masks token-like strings and the caller's own token;
- adds security headers to every response and `Cache-Control: no-store` under `/api/`.

`install_errors` maps every error to that body: the `AppError` family, HTTP errors (405 with `Allow`),
database races (409), out-of-range numbers (422), a busy or lost database (503 + Retry-After) and request
validation (422); it also installs `core.validation.InputGuard`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import pydantic_text
from core.errors import AppError, Conflict, Problem, Unavailable, ValidationFailed, mask_secrets
from core.validation import InputGuard

log = logging.getLogger("yunwang.http")

_CLEAN_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_failed",
    500: "internal_error",
    503: "unavailable",
}
# 'self' only: the docs' assets are served by the app itself (DOCS_STATIC), never from a CDN. Redoc
# renders in a blob: worker and both UIs use inline styles and data: icons.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def request_id_from(headers: Headers) -> str:
    """The client's X-Request-ID when it is short and plain (it goes into logs), else a new id."""
    given = headers.get("x-request-id", "")
    return given if _CLEAN_ID.fullmatch(given) else uuid.uuid4().hex


def error_body(status: int, message: str, request_id: str, details: list[Any] | None = None) -> dict[str, Any]:
    code = _STATUS_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    return {"error": {"code": code, "message": message, "details": details or [], "request_id": request_id}}


def _reshape(raw: bytes, status: int, request_id: str, token: str | None) -> bytes:
    """Any JSON error body → the one error shape with the request id; secrets masked."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"].setdefault("details", [])
        body["error"]["request_id"] = request_id
    else:
        detail = body.get("detail") if isinstance(body, dict) else None
        message = detail if isinstance(detail, str) else _reason(status)
        details = detail if isinstance(detail, list) else None
        body = error_body(status, message, request_id, details)
    return json.dumps(mask_secrets(body, token), ensure_ascii=False).encode()


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _bearer(headers: Headers) -> str | None:
    auth = headers.get("authorization", "")
    return auth[7:].strip() or None if auth.lower().startswith("bearer ") else None


class RequestContext:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = request_id_from(headers)
        scope.setdefault("state", {})["request_id"] = rid
        path: str = scope.get("path", "")
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 0, "start": None, "chunks": [], "sent": False}

        def decorate(message: Message) -> None:
            out = MutableHeaders(scope=message)
            for k, v in SECURITY_HEADERS.items():
                out.setdefault(k, v)
            out["x-request-id"] = rid
            if path.startswith(("/api/", "/auth/")):  # API bodies and sign-in answers are never cached
                out["cache-control"] = "no-store"

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                decorate(message)
                ctype = Headers(raw=message.get("headers", [])).get("content-type", "")
                if message["status"] >= 400 and ctype.startswith("application/json"):
                    state["start"] = message  # hold it: the body is reshaped before anything is sent
                    return
                state["sent"] = True
                await send(message)
                return
            if message["type"] == "http.response.body" and state["start"] is not None:
                state["chunks"].append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = _reshape(b"".join(state["chunks"]), state["status"], rid, _bearer(headers))
                start = state["start"]
                MutableHeaders(scope=start)["content-length"] = str(len(body))
                state["start"], state["sent"] = None, True
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        try:
            await self.app(scope, receive, send_wrapped)
        except Exception:
            log.exception("unhandled error in %s %s request_id=%s", scope.get("method"), path, rid)
            if state["sent"]:
                raise  # the response is already on the wire; nothing valid can follow
            state["status"] = 500
            body = json.dumps(
                error_body(500, "internal error / 服务内部错误（请凭请求编号联系运维）", rid), ensure_ascii=False
            ).encode()
            start: Message = {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
            decorate(start)
            await send(start)
            await send({"type": "http.response.body", "body": body})
        finally:
            log.info(
                "%s %s %s %.1fms request_id=%s",
                scope.get("method"),
                path,
                state["status"],
                (time.perf_counter() - started) * 1000,
                rid,
            )


# ---- OpenAPI: bearer security scheme and the documented error responses ----

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id"],
            "properties": {
                "code": {"type": "string", "description": "stable machine code, e.g. validation_failed"},
                "message": {"type": "string", "description": "中文 / English"},
                "details": {"type": "array", "items": {"type": "object"}, "description": "row/field/value"},
                "request_id": {"type": "string", "description": "also in X-Request-ID and the server log"},
            },
        }
    },
}
_ERROR_TEXT = {
    "401": "no or unknown token / 未认证",
    "403": "the role may not do this / 无权限",
    "404": "not found / 不存在",
    "409": "conflicts with the current state / 冲突",
    "413": "request too large / 请求过大",
    "422": "invalid input; nothing was written / 输入有误，未写入",
    "500": "internal error; quote the request id / 内部错误",
}
_PUBLIC = {"/healthz", "/readyz"}


def install_openapi(app: FastAPI) -> None:
    """Generate the schema once, with `bearerAuth` and an Error response on every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
        )
        comps = schema.setdefault("components", {})
        comps.setdefault("securitySchemes", {})["bearerAuth"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "API token (yunwang token create) / API 令牌",
        }
        comps.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for path, ops in schema.get("paths", {}).items():
            for op in ops.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                op["security"] = [] if path in _PUBLIC else [{"bearerAuth": []}]
                codes = (
                    tuple(_ERROR_TEXT)
                    if path not in _PUBLIC
                    else ("500", *(c for c in op["responses"] if c in _ERROR_TEXT))
                )
                for code in codes:
                    given = op["responses"].get(code, {})
                    op["responses"][code] = {"description": given.get("description") or _ERROR_TEXT[code], **ref}
        text = json.dumps(schema["paths"])
        if "#/components/schemas/HTTPValidationError" not in text:  # FastAPI's {"detail": …} body, unused now
            comps["schemas"].pop("HTTPValidationError", None)
            if "#/components/schemas/ValidationError" not in json.dumps(comps["schemas"]):
                comps["schemas"].pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# ---- /docs and /redoc from the installed fastapi-offline assets (no CDN) ----

DOCS_STATIC = "/docs-static"
ASSETS = Path(fastapi_offline.__file__).parent / "static"
_SWAGGER_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, showExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout", persistAuthorization: false
});
"""


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="{DOCS_STATIC}/favicon.png">{head}</head><body>{body}</body></html>'
    )


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, every asset from this server (CSP 'self')."""
    app.mount(DOCS_STATIC, StaticFiles(directory=ASSETS), name="docs-static")
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return _page(
            title,
            f'<link rel="stylesheet" href="{DOCS_STATIC}/swagger-ui.css">',
            f'<div id="swagger-ui"></div><script src="{DOCS_STATIC}/swagger-ui-bundle.js"></script>'
            '<script src="/docs-init.js"></script>',
        )

    @app.get("/docs-init.js", include_in_schema=False)
    def swagger_init() -> Response:
        return Response(_SWAGGER_INIT, media_type="text/javascript")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _page(
            title,
            "",
            f'<redoc spec-url="/openapi.json"></redoc><script src="{DOCS_STATIC}/redoc.standalone.js"></script>',
        )


def install_errors(app: FastAPI) -> None:
    """One error body for every failure: {"error": {"code", "message", "details": [...]}}.

    Also installs the input guard: unstorable input (NUL, lone surrogates, NaN, out-of-range JSON
    integers, over-long query values) is refused on every route before any handler runs.
    """
    app.add_middleware(InputGuard)

    @app.exception_handler(AppError)
    async def _inventory_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method the path answers, not just the first matching route's
            headers["Allow"] = ", ".join(sorted(allowed_methods(request.app, request.scope)))
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        body = AppError(message).body()
        body["error"]["code"] = _STATUS_CODES.get(
            exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error"
        )
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        # A uniqueness/foreign-key race the service's own checks could not see (concurrent writers).
        err = Conflict("conflicts with a concurrent change; nothing was written / 与并发修改冲突，未写入")
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _out_of_range(_: Request, exc: Exception) -> JSONResponse:
        # Last line of defence: a number the database cannot hold (2^63 on SQLite, out of range on PostgreSQL)
        # is bad input, not a server fault; nothing was written (the request's session is rolled back).
        err = ValidationFailed("a value is outside the range the database can store / 数值超出可存储范围")
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(OperationalError)
    async def _database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        # The writer lock held past the busy timeout (a very long bulk write on SQLite) or a lost database
        # connection: nothing was written; the client may retry.
        log.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        err = Unavailable(
            "数据库繁忙或不可用，未写入，请稍后重试 / the database is busy or unavailable; nothing was written, retry"
        )
        return JSONResponse(err.body(), status_code=err.status, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            value = err.get("input")
            problems.append(
                Problem(
                    pydantic_text.message(err),  # Chinese first, English beside, like the service's errors
                    field=".".join(loc) or None,
                    value=value if isinstance(value, (str, int, float, bool)) else None,
                )
            )
        return JSONResponse(
            ValidationFailed("请求参数无效 / request validation failed", problems).body(), status_code=422
        )


def allowed_methods(app: Any, scope: Any) -> set[str]:
    """The methods some route answers on this path (routes may be nested in included routers)."""
    methods = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in app.router.routes):
            methods.add(method)
    return methods or {"GET"}
