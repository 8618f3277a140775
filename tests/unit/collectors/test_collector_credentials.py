"""Credentials: encrypted at rest, resolved from vault/env/file, never shown."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from collectors import credentials
from collectors.models import DeviceCredential
from inventory.db import Database

PASSWORD = "Pa55-never-visible"


def test_vault_credential_is_encrypted_with_a_private_key_file(db: Database, tmp_path: Path) -> None:
    key = credentials.load_key(None, tmp_path)
    assert stat.S_IMODE((tmp_path / "credentials.key").stat().st_mode) == 0o600
    with db.session() as s:
        credentials.store(s, key, "core", "netops", PASSWORD, secret="enable-me")
    with db.session() as s:
        row = s.scalars(select(DeviceCredential)).one()
        assert PASSWORD not in row.encrypted and "enable-me" not in row.encrypted
        cred = credentials.CredentialResolver(s, key, {}).resolve("vault:core")
        assert (cred.username, cred.password.get_secret_value()) == ("netops", PASSWORD)
        assert cred.secret is not None and cred.secret.get_secret_value() == "enable-me"
        assert PASSWORD not in repr(cred) and PASSWORD not in str(credentials.names(s))
        assert credentials.CredentialResolver(s, key, {}).resolve("core").username == "netops"


def test_wrong_key_fails_without_revealing_anything(db: Database, tmp_path: Path) -> None:
    with db.session() as s:
        credentials.store(s, credentials.load_key("one passphrase", tmp_path), "core", "u", PASSWORD)
        other = credentials.CredentialResolver(s, credentials.load_key("another passphrase", tmp_path), {})
        with pytest.raises(credentials.CredentialError) as err:
            other.resolve("vault:core")
    assert "cannot be decrypted" in str(err.value) and PASSWORD not in str(err.value)


def test_environment_and_file_references(db: Database, tmp_path: Path) -> None:
    f = tmp_path / "cred.json"
    f.write_text(json.dumps({"username": "fileuser", "password": PASSWORD}))
    env = {"CORE_USERNAME": "envuser", "CORE_PASSWORD": PASSWORD}
    with db.session() as s:
        r = credentials.CredentialResolver(s, credentials.load_key(None, tmp_path), env)
        assert r.resolve("env:CORE").username == "envuser"
        assert r.resolve(f"file:{f}").password.get_secret_value() == PASSWORD
        for bad in ("env:MISSING", "file:/nonexistent/cred", "vault:nope", None):
            with pytest.raises(credentials.CredentialError):
                r.resolve(bad)
