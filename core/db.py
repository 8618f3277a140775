"""The store: engine, sessions and the declarative base shared by every package's tables."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Stable constraint names so alembic migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# How long a SQLite writer waits for the single write lock before "database is locked" (a big import
# holds it for its whole all-or-nothing transaction, so this is generous).
BUSY_TIMEOUT_MS = 60_000
READ_ONLY = "yunwang_read_only"  # execution option: a session that only reads (SQLite: deferred BEGIN)


class Base(DeclarativeBase):
    """Declarative base for every yunwang table."""

    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and lets RELEASE of a first SAVEPOINT commit,
    # which breaks all-or-nothing batches; SQLAlchemy emits BEGIN itself instead (_sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


class _WriterLock:
    """One SQLite writer at a time inside this process, queued on a lock instead of SQLite's busy handler.

    The busy handler polls with growing sleeps, so with many waiting writers the lock often sits free while
    they sleep (throughput falls, p99 soars). Waiting here wakes the next writer as soon as the previous
    one commits or rolls back. Other processes are still ordered by SQLite itself (busy timeout). The wait
    is bounded: a writer that cannot get the lock in time proceeds and lets SQLite decide.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: int | None = None

    def acquire(self, conn: Any) -> None:
        if self.owner == threading.get_ident():
            return  # a second write session in the holder's own thread: waiting here could never end
        if self.lock.acquire(timeout=BUSY_TIMEOUT_MS / 2000):
            self.owner = threading.get_ident()
            conn.info[_HOLDS_LOCK] = True

    def release(self, conn: Any) -> None:
        if conn.info.pop(_HOLDS_LOCK, False):
            self.owner = None
            self.lock.release()

    def checkin(self, _dbapi_conn: Any, record: Any) -> None:
        """Safety net: a connection back in the pool never keeps the lock (e.g. invalidated mid-write)."""
        self.release(record)


_HOLDS_LOCK = "yunwang_holds_writer_lock"


def _sqlite_begin(writers: _WriterLock) -> Any:
    def begin(conn: Any) -> None:
        # A deferred transaction that reads and then writes cannot wait for the write lock: SQLite answers
        # "database is locked" at once (its snapshot may be stale), busy timeout or not. So every transaction
        # takes the write lock up front (BEGIN IMMEDIATE, queued on the process's writer lock, then waiting up
        # to the busy timeout for other processes) unless it comes from a read-only engine
        # (Database.read_sessions), which never writes and keeps WAL's concurrent readers.
        if conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN")
            return
        writers.acquire(conn)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.release(conn)
            raise

    return begin


POOL_SIZE = 10  # kept; as many more opened under load: ≤ 20 a process (docs/deploy.md: the connection budget)


def make_engine(url: str, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout."""
    # Enough pooled connections for a process's concurrent requests: beyond pool_size each checkout opens a new
    # connection and closes it after use (on SQLite with a cold page cache: the first count(*) of 100,000 rows took
    # 9 ms instead of 0.1 ms), which cost a quarter of a list request's CPU at 10 clients (docs/LISTS.md, "Speed").
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "pool_size": POOL_SIZE, "max_overflow": POOL_SIZE}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        writers = _WriterLock()
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin(writers))
        event.listen(engine, "commit", writers.release)
        event.listen(engine, "rollback", writers.release)
        event.listen(engine.pool, "checkin", writers.checkin)
    return engine


class Database:
    """An engine and its session factory, owned by the app (no module-level globals)."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        # Writers: on SQLite each transaction holds the write lock from its start (BEGIN IMMEDIATE).
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Readers (GET requests): plain deferred transactions, concurrent with the writer under WAL.
        self.read_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        # A request's reads (GET/HEAD, core.deps.get_session) on PostgreSQL run outside a transaction (autocommit):
        # each statement reads the latest committed rows, as it does inside a READ COMMITTED transaction, without
        # the BEGIN and ROLLBACK round trips. Other readers keep read_sessions (one transaction, undone at its end).
        self.request_reads = (
            sessionmaker(
                self.engine.execution_options(**{READ_ONLY: True}, isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
            if self.engine.dialect.name == "postgresql"
            else self.read_sessions
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads (never commits); on SQLite it does not take the write lock."""
        with self.read_sessions() as s:
            try:
                yield s
            finally:
                s.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


def enum_type(cls: type[StrEnum]) -> Enum:
    """Store an enum by its value as a checked VARCHAR, identical on SQLite and PostgreSQL."""
    return Enum(
        cls,
        native_enum=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        name=cls.__name__.lower(),
    )


def package_of(table_name: str) -> str:
    """Which package's version branch holds a table: Table.info["package"] when set (core's tables keep the
    branch that created them), else its mapped class's top-level package."""
    table = Base.metadata.tables.get(table_name)
    if table is not None and "package" in table.info:
        return str(table.info["package"])
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) == table_name:
            return str(mapper.class_.__module__).split(".")[0]
    return "inventory" if table is not None else ""
