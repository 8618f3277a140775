"""The app's one typed service container: every package's `install(app, …)` puts what its routes need here,
and routes read it only through that package's dependency providers (so tests swap them with
`app.dependency_overrides[provider]`).

    RATES: Key[RatesExporter] = Key("rates_exporter")
    get_rates = provider(RATES)                    # a FastAPI dependency: Annotated[RatesExporter, Depends(get_rates)]
    services(app).provide(RATES, exporter)        # in the package's install(app, …)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry

from core.db import Database
from core.errors import Problem, Unavailable
from core.jobs import Jobs

T = TypeVar("T")


class Key(Generic[T]):
    """A typed slot in the container; its type parameter is the type of what it holds."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


class Services:
    """What the app's packages provide to their routes, by typed key (filled by the composition root)."""

    def __init__(self) -> None:
        self._items: dict[Key[Any], Any] = {}

    def provide(self, key: Key[T], value: T) -> T:
        self._items[key] = value
        return value

    def get(self, key: Key[T]) -> T:
        if key not in self._items:
            raise LookupError(f"{key.name} is not installed in this app")
        return cast(T, self._items[key])

    def find(self, key: Key[T]) -> T | None:
        return cast(T | None, self._items.get(key))


def services(app: FastAPI) -> Services:
    """The app's container (created on first use; the only thing kept on `app.state`)."""
    got = getattr(app.state, "services", None)
    if not isinstance(got, Services):
        got = Services()
        app.state.services = got
    return got


PROVIDERS: dict[Key[Any], Callable[..., Any]] = {}  # key → its provider (background tasks honour overrides)


def provider(key: Key[T]) -> Callable[[Request], T]:
    """A FastAPI dependency returning what the app holds under `key`."""

    def get(request: Request) -> T:
        found = services(request.app).find(key)
        if found is None:  # a feature this deployment did not install: say which, in the one error shape
            raise Unavailable(
                f"功能未安装 / {key.name} is not installed in this service",
                [Problem("not installed", field=key.name)],
            )
        return found

    get.__name__ = f"get_{key.name}"
    PROVIDERS.setdefault(key, get)
    return get


DATABASE: Key[Database] = Key("database")
METRICS_REGISTRY: Key[CollectorRegistry] = Key("metrics_registry")
JOBS: Key[Jobs] = Key("jobs")

get_jobs = provider(JOBS)
get_metrics_registry = provider(METRICS_REGISTRY)
