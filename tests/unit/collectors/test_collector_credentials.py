"""Credentials: encrypted at rest, resolved from vault/env/file, never shown."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from collectors import credentials
from collectors.models import DeviceCredential
from core.db import Database

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
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    f = secrets / "cred.json"
    f.write_text(json.dumps({"username": "fileuser", "password": PASSWORD}))
    env = {"YUNWANG_CRED_CORE_USERNAME": "envuser", "YUNWANG_CRED_CORE_PASSWORD": PASSWORD}
    with db.session() as s:
        r = credentials.CredentialResolver(s, credentials.load_key(None, tmp_path), env, secrets)
        assert r.resolve("env:YUNWANG_CRED_CORE").username == "envuser"
        assert r.resolve(f"file:{f}").password.get_secret_value() == PASSWORD
        assert r.resolve("file:cred.json").username == "fileuser"  # relative to the secrets directory
        for bad in ("env:YUNWANG_CRED_MISSING", "file:/nonexistent/cred", "vault:nope", None):
            with pytest.raises(credentials.CredentialError):
                r.resolve(bad)


def test_references_cannot_reach_outside_the_secrets_directory_or_the_env_prefix(db: Database, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"username": "root", "password": PASSWORD}))
    (secrets / "link.json").symlink_to(outside)
    env = {"CORE_USERNAME": "u", "CORE_PASSWORD": PASSWORD, "YUNWANG_DATABASE_URL": "postgresql://x:pw@h/db"}
    with db.session() as s:
        r = credentials.CredentialResolver(s, credentials.load_key(None, tmp_path), env, secrets)
        refused = {
            f"file:{outside}": "outside the secrets directory",
            "file:../outside.json": "may not contain '..'",
            f"file:{secrets}/../outside.json": "may not contain '..'",
            "file:link.json": "outside the secrets directory",  # a symlink pointing out
            "env:CORE": "must start with YUNWANG_CRED_",
            "env:YUNWANG_DATABASE": "must start with YUNWANG_CRED_",
        }
        for ref, why in refused.items():
            with pytest.raises(credentials.CredentialError) as err:
                r.resolve(ref)
            assert why in str(err.value) and PASSWORD not in str(err.value), ref
        no_dir = credentials.CredentialResolver(s, credentials.load_key(None, tmp_path), env, None)
        with pytest.raises(credentials.CredentialError, match="secrets directory"):
            no_dir.resolve("file:cred.json")


def test_a_missing_key_with_stored_credentials_stops_instead_of_making_a_new_one(db: Database, tmp_path: Path) -> None:
    key = credentials.load_key(None, tmp_path)
    with db.session() as s:
        credentials.check_key(s, None, tmp_path)  # nothing stored yet: fine
        credentials.store(s, key, "core", "netops", PASSWORD)
        s.commit()
    (tmp_path / "credentials.key").unlink()
    with db.session() as s:
        with pytest.raises(credentials.MissingKey, match="YUNWANG_SECRET_KEY"):
            credentials.check_key(s, None, tmp_path)
        with pytest.raises(credentials.MissingKey):
            credentials.load_key(None, tmp_path, create=False)
    assert not (tmp_path / "credentials.key").exists()  # no silent new key


def test_references_that_can_never_resolve_are_refused_when_written() -> None:
    assert credentials.ref_problem("vault:core") is None
    assert credentials.ref_problem("core") is None
    assert credentials.ref_problem("env:YUNWANG_CRED_SNMP") is None
    assert credentials.ref_problem("file:snmp/community.json") is None
    for bad in ("env:YUNWANG_DATABASE", "file:../../etc/passwd", "ldap:x", "env:", "vault: "):
        assert credentials.ref_problem(bad) is not None, bad
