"""Device credentials: encrypted at rest (Fernet) or referenced from the environment or a file.

A `credential_ref` on a device is one of:
  `vault:NAME` (or a bare `NAME`)  stored encrypted in `collector_credentials` with the key from settings
                                   or `<data_dir>/credentials.key` (created 0600 on first use);
  `env:PREFIX`                     username and password in `PREFIX_USERNAME` / `PREFIX_PASSWORD`; PREFIX must
                                   start with the configured prefix (default `YUNWANG_CRED_`), so a device
                                   record cannot read any other variable of the service;
  `file:NAME`                      a JSON file `{"username": "...", "password": "..."}` (or `user:password`)
                                   inside the configured secrets directory only (no `..`, no symlink out).
Passwords live in `SecretStr` so a repr, a log line or an exception never shows them. A missing key while
encrypted credentials exist is an error (`check_key`), never a silently generated new key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors.models import DeviceCredential
from core.audit import ChangeContext, record_change
from core.enums import ChangeAction
from core.times import iso, now_utc


@dataclass(frozen=True)
class Credential:
    username: str
    password: SecretStr
    secret: SecretStr | None = None  # enable secret, when the platform asks for one


class CredentialError(Exception):
    """A reference that cannot be resolved; the message names the reference, never a secret."""


DEFAULT_ENV_PREFIX = "YUNWANG_CRED_"
KEY_FILE = "credentials.key"


class MissingKey(CredentialError):
    """Encrypted credentials exist but their key does not: refuse to start rather than make a new one."""


def stored_count(session: Session) -> int:
    return len(session.scalars(select(DeviceCredential.id).limit(1)).all())


def check_key(session: Session, secret_key: str | None, data_dir: Path) -> None:
    """Start-up check: stored credentials need the key they were encrypted with (settings or key file)."""
    if not stored_count(session):
        return
    if secret_key or (data_dir / KEY_FILE).exists():
        sample = session.scalars(select(DeviceCredential).limit(1)).one()
        try:
            Fernet(load_key(secret_key, data_dir, create=False)).decrypt(sample.encrypted.encode())
        except InvalidToken:
            raise MissingKey(
                "设备凭据无法用当前密钥解密 / the configured key does not decrypt the stored device credentials: "
                "check YUNWANG_SECRET_KEY or the key file (a wrong key is never replaced silently)"
            ) from None
        return
    raise MissingKey(
        f"设备凭据已加密存储，但密钥缺失 / encrypted device credentials exist but the key is missing: set "
        f"YUNWANG_SECRET_KEY or restore {data_dir / KEY_FILE} (a new key would make them unreadable)"
    )


def load_key(secret_key: str | None, data_dir: Path, create: bool = True) -> bytes:
    """The Fernet key: from settings (a Fernet key, or any passphrase hashed into one) or a key file.

    The key file is created (0600) only when `create` is true, i.e. when no credential is stored yet.
    """
    if secret_key:
        try:
            Fernet(secret_key.encode())
            return secret_key.encode()
        except ValueError:
            return base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest())
    path = data_dir / KEY_FILE
    if not path.exists():
        if not create:
            raise MissingKey(f"credential key file {path} is missing and encrypted credentials exist")
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
    return path.read_bytes().strip()


def store(
    session: Session,
    key: bytes,
    name: str,
    username: str,
    password: str,
    secret: str | None = None,
    ctx: ChangeContext | None = None,
) -> None:
    """Create or replace the encrypted credential `name`; with `ctx`, the change is audited (never the secret)."""
    fernet = Fernet(key)
    blob = fernet.encrypt(json.dumps({"password": password, "secret": secret}).encode()).decode()
    row = session.scalar(select(DeviceCredential).where(DeviceCredential.name == name))
    before = None if row is None else {"name": row.name, "username": row.username}
    if row is None:
        row = DeviceCredential(name=name)
        session.add(row)
    row.username, row.encrypted, row.updated_at = username, blob, now_utc()
    session.flush()
    if ctx is not None:
        after = {"name": name, "username": username, "password": "(changed)", "secret": "(set)" if secret else None}
        action = ChangeAction.CREATE if before is None else ChangeAction.UPDATE
        record_change(session, ctx, "device_credentials", row.id, action, before, after, object_code=name)


def names(session: Session) -> list[dict[str, str]]:
    """Stored credential names and usernames (never passwords)."""
    rows = session.scalars(select(DeviceCredential).order_by(DeviceCredential.name))
    return [{"name": r.name, "username": r.username, "updated_at": iso(r.updated_at)} for r in rows]


def ref_problem(ref: str, env_prefix: str = DEFAULT_ENV_PREFIX) -> str | None:
    """Why a reference can never resolve (checked when it is written), or None; the secret itself is never here."""
    scheme, sep, rest = ref.partition(":")
    if not sep:
        scheme, rest = "vault", ref
    if scheme not in ("vault", "env", "file") or not rest.strip():
        return "凭据引用应为 vault:NAME、env:PREFIX 或 file:NAME / a credential reference is vault:NAME, env:PREFIX or file:NAME"
    if scheme == "env" and not rest.startswith(env_prefix):
        return f"环境变量凭据须以 {env_prefix} 开头 / an env: reference must start with {env_prefix}"
    if scheme == "file" and ".." in Path(rest).parts:
        return "文件凭据不能含 .. / a file: reference may not contain '..'"
    return None


class CredentialResolver:
    """Resolves `credential_ref`s, caching the database lookups of one collection run."""

    def __init__(
        self,
        session: Session,
        key: bytes,
        environ: Mapping[str, str] | None = None,
        files_dir: Path | None = None,
        env_prefix: str = DEFAULT_ENV_PREFIX,
    ) -> None:
        self.session = session
        self.fernet = Fernet(key)
        self.environ = os.environ if environ is None else environ
        self.files_dir = files_dir
        self.env_prefix = env_prefix
        self._cache: dict[str, Credential] = {}

    def resolve(self, ref: str | None) -> Credential:
        if not ref:
            raise CredentialError("device has no credential_ref")
        if ref not in self._cache:
            self._cache[ref] = self._resolve(ref)
        return self._cache[ref]

    def _resolve(self, ref: str) -> Credential:
        scheme, _, rest = ref.partition(":")
        if not rest:
            scheme, rest = "vault", ref
        if scheme == "env":
            if not self.env_prefix or not rest.startswith(self.env_prefix):
                raise CredentialError(f"environment credential {rest} must start with {self.env_prefix}")
            user, password = self.environ.get(f"{rest}_USERNAME"), self.environ.get(f"{rest}_PASSWORD")
            if not user or password is None:
                raise CredentialError(f"environment credential {rest} is not set")
            secret = self.environ.get(f"{rest}_SECRET")
            return Credential(user, SecretStr(password), SecretStr(secret) if secret else None)
        if scheme == "file":
            try:
                text = self._secret_file(rest).read_text().strip()
            except (OSError, ValueError):
                raise CredentialError(f"credential file {rest} cannot be read") from None
            if text.startswith("{"):
                try:
                    data = json.loads(text)
                    secret = data.get("secret")
                    return Credential(
                        str(data["username"]), SecretStr(str(data["password"])), SecretStr(secret) if secret else None
                    )
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise CredentialError(f"credential file {rest} is not JSON with username and password") from None
            user, sep, password = text.partition(":")
            if not sep or not user.strip() or "\n" in text:
                raise CredentialError(f"credential file {rest} is neither JSON nor one user:password line")
            return Credential(user, SecretStr(password))
        if scheme == "vault":
            row = self.session.scalar(select(DeviceCredential).where(DeviceCredential.name == rest))
            if row is None:
                raise CredentialError(f"credential {rest} is not stored")
            try:
                data = json.loads(self.fernet.decrypt(row.encrypted.encode()))
            except InvalidToken:
                raise CredentialError(f"credential {rest} cannot be decrypted with this key") from None
            secret = data.get("secret")
            return Credential(row.username, SecretStr(data["password"]), SecretStr(secret) if secret else None)
        raise CredentialError(f"unknown credential scheme {scheme}")

    def _secret_file(self, ref: str) -> Path:
        """A file inside the secrets directory: relative names, or absolute paths that resolve inside it."""
        if self.files_dir is None:
            raise CredentialError("file: credentials need a secrets directory (YUNWANG_CREDENTIAL_FILES_DIR)")
        if ".." in Path(ref).parts:
            raise CredentialError(f"credential file {ref} may not contain '..'")
        root = self.files_dir.resolve()
        path = (root / ref).resolve()  # follows symlinks: one pointing out of the directory is refused below
        if not path.is_relative_to(root):
            raise CredentialError(f"credential file {ref} is outside the secrets directory")
        return path
