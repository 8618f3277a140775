"""Secrets at rest: audited credential changes without the secret, key files and databases owner-only, no start
without the key of stored credentials."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from collectors import credentials
from inventory.db import Database
from inventory.enums import Role
from orchestrator.app import create_app
from orchestrator.settings import Settings

PASSWORD = "Sup3r-secret-device-pw"


def test_a_credential_change_is_audited_without_the_secret(client: TestClient, token_for: Callable[..., str]) -> None:
    h = {"Authorization": f"Bearer {token_for(Role.NETWORK_ADMIN, name='netops-li')}"}
    for pw in (PASSWORD, PASSWORD + "2"):
        r = client.put("/api/v1/collectors/credentials/core", headers=h, json={"username": "netops", "password": pw})
        assert r.status_code == 200, r.text
        assert PASSWORD not in r.text
    audit = client.get(
        "/api/v1/inventory/changes?kind=device_credentials",
        headers={"Authorization": f"Bearer {token_for(Role.AUDITOR)}"},
    )
    assert audit.status_code == 200
    items = audit.json()["items"]
    assert [(i["action"], i["actor"]) for i in sorted(items, key=lambda i: i["id"])] == [
        ("create", "netops-li"),
        ("update", "netops-li"),
    ]
    assert PASSWORD not in audit.text and all(i["after"]["password"] == "(changed)" for i in items)


def test_the_service_refuses_to_start_when_stored_credentials_lost_their_key(db: Database, tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = credentials.load_key(None, data)
    with db.session() as s:
        credentials.store(s, key, "core", "netops", PASSWORD)
        s.commit()
    (data / "credentials.key").unlink()
    app = create_app(
        Settings(database_url=db.url, data_dir=data, scheduler_enabled=False), registry=CollectorRegistry(), database=db
    )
    with pytest.raises(credentials.MissingKey) as err, TestClient(app):
        pass
    assert "YUNWANG_SECRET_KEY" in str(err.value) and PASSWORD not in str(err.value)
    assert not (data / "credentials.key").exists()


def test_the_sqlite_file_and_the_key_file_are_owner_only(tmp_path: Path) -> None:
    s = Settings(database_url=f"sqlite:///{tmp_path}/db/yunwang.db", data_dir=tmp_path / "data")
    s.ensure_dirs()
    assert stat.S_IMODE((tmp_path / "db" / "yunwang.db").stat().st_mode) == 0o600
    credentials.load_key(None, s.data_dir)
    assert stat.S_IMODE((s.data_dir / "credentials.key").stat().st_mode) == 0o600
