"""Shared fixtures: a migrated database per test (SQLite file, or PostgreSQL from tests/env), apps and tokens."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from orchestrator.app import schema as dbschema
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings

PG_URL = os.environ.get("YUNWANG_TEST_PG_URL")
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for every test (migrating each time would be slow)."""
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    dbschema.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> str | None:
    """A migrated PostgreSQL template database, cloned per test with CREATE DATABASE … TEMPLATE."""
    if not PG_URL:
        return None
    name = f"yw_tpl_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    dbschema.upgrade(PG_URL.rsplit("/", 1)[0] + f"/{name}")
    admin.dispose()
    return name


def _pg_clone(template: str) -> tuple[str, Callable[[], None]]:
    assert PG_URL
    name = f"yw_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_URL.rsplit("/", 1)[0] + f"/{name}", drop


@pytest.fixture
def db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated SQLite database."""
    path = tmp_path / "yunwang.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(
    request: pytest.FixtureRequest, sqlite_template: Path, pg_template: str | None, tmp_path: Path
) -> Iterator[Database]:
    """The same test on SQLite and on PostgreSQL (the production path)."""
    if request.param == "sqlite":
        path = tmp_path / "yunwang.db"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
        return
    if pg_template is None:
        if IN_CI:
            pytest.fail("CI must run the PostgreSQL store tests, but YUNWANG_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL not available: YUNWANG_TEST_PG_URL is unset (scripts/test.sh starts it as root)")
    url, drop = _pg_clone(pg_template)
    database = Database(url)
    yield database
    database.dispose()
    drop()


@pytest.fixture
def ctx() -> ChangeContext:
    return ChangeContext(actor="tester", role="admin")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(database_url=db.url, data_dir=tmp_path / "data", scheduler_enabled=False)


@pytest.fixture
def app(settings: Settings, db: Database, registry: CollectorRegistry):  # type: ignore[no-untyped-def]
    return create_app(settings, registry=registry, database=db)


@pytest.fixture
def token_for(db: Database) -> Callable[..., str]:
    """Create a token for a role (and unit id, for scoped roles)."""

    def make(role: Role, unit_id: int | None = None, name: str | None = None) -> str:
        with db.session() as s:
            return create_token(s, name or f"{role.value}-{uuid.uuid4().hex[:6]}", role, unit_id)

    return make


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


@pytest.fixture
def admin(client: TestClient, token_for: Callable[..., str]) -> TestClient:
    """The test client with an admin token set."""
    client.headers["Authorization"] = f"Bearer {token_for(Role.ADMIN)}"
    return client
