"""Passwords of local accounts: argon2id hashes (argon2-cffi), the password rules, constant-work checks.

A password is normalised to Unicode NFC before it is hashed or checked, so the same characters typed on two
keyboards (composed or decomposed) are the same password. Nothing here logs or returns a password or a hash.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import Problem, ValidationFailed
from core.identity import identity_key

MIN_LENGTH = 10
MAX_LENGTH = 256  # bounds the hashing work an anonymous caller can ask for

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def normalise(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def problems(password: str, username_key: str) -> list[Problem]:
    """What is wrong with a new password (the password itself is never echoed back)."""
    pw = normalise(password)
    out: list[Problem] = []
    if len(pw) < MIN_LENGTH:
        out.append(Problem(f"密码至少 {MIN_LENGTH} 个字符 / at least {MIN_LENGTH} characters", field="password"))
    if len(pw) > MAX_LENGTH:
        out.append(Problem(f"密码至多 {MAX_LENGTH} 个字符 / at most {MAX_LENGTH} characters", field="password"))
    if identity_key(pw) == username_key:
        out.append(Problem("密码不能与用户名相同 / must not equal the username", field="password"))
    return out


def require_valid(password: str, username_key: str) -> None:
    found = problems(password, username_key)
    if found:
        raise ValidationFailed("密码不符合要求 / the password does not meet the rules", found)


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string with its salt and parameters) of a password."""
    return _HASHER.hash(normalise(password))


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("dummy password for unknown accounts")


def verify(stored: str | None, password: str) -> bool:
    """Whether the password matches; an account without a hash costs the same work (no timing hint)."""
    candidate = normalise(password)[: MAX_LENGTH + 1]
    try:
        return _HASHER.verify(stored or _dummy_hash(), candidate) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
