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
from core.db import Database
from core.enums import Role
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings

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


def test_a_wrong_key_also_stops_the_service(db: Database, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with db.session() as s:
        credentials.store(s, credentials.load_key("the right passphrase", data), "core", "netops", PASSWORD)
        s.commit()
    with db.session() as s:
        credentials.check_key(s, "the right passphrase", data)
        with pytest.raises(credentials.MissingKey, match="does not decrypt"):
            credentials.check_key(s, "a wrong passphrase", data)


def test_a_malformed_secret_file_is_a_credential_error_not_a_crash(db: Database, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "nopw.json").write_text('{"username": "u"}')
    (secrets / "bad.json").write_text("{not json")
    (secrets / "list.json").write_text("[1, 2]")
    with db.session() as s:
        r = credentials.CredentialResolver(s, credentials.load_key(None, tmp_path), {}, secrets)
        for ref in ("file:nopw.json", "file:bad.json", "file:list.json", "file:a\x00b"):
            with pytest.raises(credentials.CredentialError):
                r.resolve(ref)


def test_every_sqlite_url_form_gives_an_owner_only_file(tmp_path: Path) -> None:
    for url in (f"sqlite+pysqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db?timeout=5"):
        Settings(database_url=url, data_dir=tmp_path / "data").ensure_dirs()
    assert stat.S_IMODE((tmp_path / "a.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "b.db").stat().st_mode) == 0o600


def test_a_mistyped_secret_is_never_echoed_in_an_error(client: TestClient, token_for: Callable[..., str]) -> None:
    h = {"Authorization": f"Bearer {token_for(Role.NETWORK_ADMIN)}"}
    r = client.put("/api/v1/collectors/credentials/zz", headers=h, json={"username": "u", "password": 918273645})
    assert r.status_code == 422 and "918273645" not in r.text
