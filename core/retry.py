"""The one retry policy (tenacity): bounded attempts with exponential back-off and jitter.

Used for transient failures of outside calls: cloud calls (`orchestrator.provisioning.runs.call`) and
notification deliveries (`core.notifications.dispatch`). The caller says what is transient; anything else is
raised at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried within one call."""

    attempts: int = 6
    initial_s: float = 0.2
    max_s: float = 4.0


def call_with_retries(
    fn: Callable[[], T],
    transient: Callable[[BaseException], bool],
    policy: RetryPolicy,
    before_sleep: Callable[[Any], None] | None = None,
) -> T:
    """Run `fn`, retrying while it raises a `transient` error, at most `policy.attempts` times in all."""
    for attempt in Retrying(
        retry=retry_if_exception(transient),
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential_jitter(initial=policy.initial_s, max=policy.max_s),
        before_sleep=before_sleep,
        reraise=True,
    ):
        with attempt:
            return fn()
    raise AssertionError("unreachable")  # pragma: no cover
