"""Metrics plumbing: the app's Prometheus registry, the HTTP latency middleware and the `/metrics` endpoint.

Packages register their collectors on the registry handed to their `install(app, …)`; a package that keeps a
pre-rendered snapshot (the rates, in dashboards) provides the exposition (`EXPOSITION`), so a scrape never
recomputes anything. `/metrics` needs a bearer token of any unscoped role (Prometheus:
`authorization: {credentials_file: …}`); scoped roles get 403, since the metrics carry every unit's figures.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.deps import CurrentPrincipal
from core.errors import Forbidden, Problem
from core.wiring import METRICS_REGISTRY, Key, get_metrics_registry, provider, services

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Exposition = Callable[[CollectorRegistry], bytes]
EXPOSITION: Key[Exposition] = Key("metrics_exposition")
get_exposition = provider(EXPOSITION)
# The same body gzip-compressed (a package with a pre-rendered snapshot keeps it compressed too); without one,
# `/metrics` compresses the plain exposition per scrape when the scraper accepts gzip.
GZIP_EXPOSITION: Key[Exposition] = Key("metrics_exposition_gzip")
GZIP_LEVEL = 6


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip (`gzip`, `gzip;q=0.5`, `*`; never `gzip;q=0`)."""
    allowed: dict[str, bool] = {}
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
        try:
            allowed[name.strip().lower()] = float(q) > 0
        except ValueError:
            allowed[name.strip().lower()] = False
    return allowed.get("gzip", allowed.get("x-gzip", allowed.get("*", False)))


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/rates/{key}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class LatencyMiddleware:
    """Observe every HTTP request's latency by (method, route template, status).

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware (`@app.middleware("http")`) runs the rest of the app
    in a task group with memory streams, which cost a noticeable share of a short request's CPU. The route
    template is read from the scope after the app ran (the router sets `scope["route"]`); a request whose
    response never started (an error re-raised after the body began) is not observed, as before.
    """

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        method = scope["method"] if scope["method"] in HTTP_METHODS else "OTHER"
        self.histogram.labels(method, route_template(scope), str(status)).observe(time.perf_counter() - started)


def install(app: FastAPI, registry: CollectorRegistry) -> None:
    """The registry (for every package's collectors), the latency middleware and `/metrics`."""
    services(app).provide(METRICS_REGISTRY, registry)
    if services(app).find(EXPOSITION) is None:
        services(app).provide(EXPOSITION, generate_latest)
    latency = Histogram(
        "yunwang_http_request_duration_seconds",
        "HTTP request latency by route template",
        ["method", "route", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )

    app.add_middleware(LatencyMiddleware, histogram=latency)

    router = APIRouter(tags=["health"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics (bearer token of an unscoped role) / 监控指标",
        response_class=Response,
        responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
    )
    def metrics(
        request: Request,
        principal: CurrentPrincipal,
        registry: Annotated[CollectorRegistry, Depends(get_metrics_registry)],
        render: Annotated[Exposition, Depends(get_exposition)],
    ) -> Response:
        """Every unit's figures: open to any role that is not limited to a unit subtree."""
        if principal.scoped:
            raise Forbidden(
                "scoped roles may not scrape every unit's metrics",
                [Problem("use a token of an unscoped role (e.g. auditor) for Prometheus", field="role")],
            )
        if not accepts_gzip(request.headers.get("accept-encoding")):
            return Response(render(registry), media_type=CONTENT_TYPE_LATEST, headers={"Vary": "Accept-Encoding"})
        zipped = services(request.app).find(GZIP_EXPOSITION)
        body = zipped(registry) if zipped is not None else gzip.compress(render(registry), GZIP_LEVEL)
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers=headers)

    app.include_router(router)
