"""Celery on RabbitMQ: the broker-backed backend and the worker side of the same tasks.

Settings (docs/tasks.md): late acknowledgement (`task_acks_late`) and `task_reject_on_worker_lost`, so a
message is acknowledged only after its task finished and comes back when the worker dies; prefetch 1 (a worker
holds one message at a time); JSON only; no result backend (the job row is the result); task id = job id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from celery import Celery
from kombu import Queue

from core.db import Database
from core.tasks import engine
from core.tasks.registry import DEFAULT_QUEUE, REGISTRY, Resources

log = logging.getLogger("yunwang.tasks")


def make_celery(broker_url: str, main: str = "yunwang") -> Celery:
    app = Celery(main, broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        # the broker confirms each message is queued (and written, for a durable queue) before send_task returns:
        # a message lost by a broker dying just then fails the submit (503, job failed) instead of vanishing
        broker_transport_options={"confirm_publish": True},
        worker_hijack_root_logger=False,
        # stdout/stderr stay the process's own: redirected into a logger, the service's log handler (core/logs.py,
        # it writes to sys.stderr as it is) sent every record into that proxy, which drops records logged from
        # logging itself — the worker's log lost its lines, "ready." included (CI: the chaos test's workers never
        # looked ready)
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        enable_utc=True,
    )
    return app


class CeleryBackend:
    """Sends each job as a Celery message (task id = job id, argument = job id) to its queue."""

    name = "celery"

    CHECK_SECONDS = 5.0  # a reachability answer is reused this long (readiness probes, scheduler slots)
    CONNECT_TIMEOUT = 2.0

    def __init__(self, broker_url: str) -> None:
        self.app = make_celery(broker_url)
        self._checked: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    def send(self, job_id: str, task_name: str, queue: str) -> None:
        self.app.send_task(task_name, args=[job_id], task_id=job_id, queue=queue, retry=False)

    def reachable(self) -> bool:
        """The broker accepts a connection (AMQP handshake, `CONNECT_TIMEOUT`); the answer is cached for
        `CHECK_SECONDS`, so a readiness probe or a scheduler slot costs at most one connection per few seconds."""
        with self._lock:
            if self._checked is not None and time.monotonic() - self._checked[0] < self.CHECK_SECONDS:
                return self._checked[1]
            try:
                with self.app.connection_for_write(connect_timeout=self.CONNECT_TIMEOUT) as conn:
                    # one attempt, no retry: a readiness probe waits behind this lock and must answer in time
                    conn.ensure_connection(max_retries=0, timeout=self.CONNECT_TIMEOUT)
                ok = True
            except Exception as exc:  # refused, timed out, bad credentials: not reachable
                log.warning("broker not reachable: %s", type(exc).__name__)
                ok = False
            self._checked = (time.monotonic(), ok)
            return ok

    def stop(self) -> None:
        self.app.close()


def bind_tasks(app: Celery, context: Callable[[], tuple[Database, Resources]]) -> None:
    """Register every task of the registry on the Celery app; each runs `engine.execute` on its job id.

    `context` is called lazily in the worker process (after a prefork fork) and its result kept.
    """
    cache: dict[str, tuple[Database, Resources]] = {}

    def run(job_id: str) -> str | None:
        if "ctx" not in cache:
            cache["ctx"] = context()
        db, resources = cache["ctx"]
        status = engine.execute(db, resources, job_id)
        return status.value if status else None

    for name in REGISTRY:
        app.task(name=name, acks_late=True, reject_on_worker_lost=True)(run)


def worker_argv(queues: Sequence[str], pool: str, concurrency: int, hostname: str | None) -> list[str]:
    argv = ["worker", "--loglevel=INFO", f"--queues={','.join(queues)}", f"--pool={pool}"]
    argv.append(f"--concurrency={concurrency}")
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    return argv


def run_worker(
    broker_url: str,
    context: Callable[[], tuple[Database, Resources]],
    queues: Sequence[str],
    pool: str = "prefork",
    concurrency: int = 2,
    hostname: str | None = None,
) -> None:
    """Run a Celery worker consuming `queues` (blocks until it is stopped)."""
    app = make_celery(broker_url)
    app.conf.task_queues = [Queue(q) for q in queues]
    bind_tasks(app, context)
    log.info("worker: queues %s, tasks %s", ",".join(queues), ",".join(sorted(REGISTRY)))
    app.worker_main(worker_argv(queues, pool, concurrency, hostname))
