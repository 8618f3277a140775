"""The task registry: every background task has a name, a function and the queue it runs on.

    @task("requests.provision")
    def provision(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]: ...

A task function takes the context (the database and the app's services) and the job's JSON payload, and returns
a JSON-able result (shown on the job) or None. It must be idempotent: a message can be delivered again after a
worker died mid-task (the job row's attempt counter says how often it started).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from core.db import Database

T = TypeVar("T")

DEFAULT_QUEUE = "default"


class Resources(Protocol):
    """Where a task finds the services it needs (the app's container, or the worker's)."""

    def get(self, key: Any) -> Any: ...


@dataclass(frozen=True)
class TaskContext:
    db: Database
    resources: Resources
    job_id: str
    attempt: int

    def get(self, key: Any) -> Any:
        return self.resources.get(key)

    def progress(self, result: dict[str, Any]) -> None:
        """Show a partial result on the running job."""
        from core.tasks.engine import progress

        progress(self.db, self.job_id, result)


TaskFn = Callable[[TaskContext, dict[str, Any]], dict[str, Any] | None]
QueueFor = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    fn: TaskFn
    queue: str | QueueFor = DEFAULT_QUEUE
    max_attempts: int = 3  # a message that killed its worker this often is given up (failed), not looped

    def queue_for(self, payload: dict[str, Any]) -> str:
        return self.queue(payload) if callable(self.queue) else self.queue


REGISTRY: dict[str, TaskSpec] = {}


def task(name: str, queue: str | QueueFor = DEFAULT_QUEUE, max_attempts: int = 3) -> Callable[[TaskFn], TaskFn]:
    """Register a task function under `name` (names are unique; registering the same function again is a no-op)."""

    def register(fn: TaskFn) -> TaskFn:
        known = REGISTRY.get(name)
        if known is not None and known.fn is not fn and known.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"task {name} is already registered")
        REGISTRY[name] = TaskSpec(name, fn, queue, max_attempts)
        return fn

    return register


def spec(name: str) -> TaskSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise LookupError(f"no task named {name}") from None
