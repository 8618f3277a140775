"""Single sign-on checks that need no provider (core/oidc.py): the id_token's signature, issuer, audience, expiry
and nonce; the flow's state (used once, bound to the browser, 10 minutes); role and unit from the claims.
The end-to-end flow against a real provider is tests/integration/auth/test_oidc_sign_on.py."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from core import oidc
from core.db import Database
from core.enums import Role
from core.identity import hash_token
from core.models import OidcFlow

ISS = "http://127.0.0.1:1/issuer"
CONFIG = oidc.OidcConfig(
    issuer=ISS,
    client_id="yunwang",
    redirect_url="http://127.0.0.1:8080/auth/oidc/callback",
    client_secret="s3cret-value",
    role_map={"sub-chief": "sub_cloud_chief", "netops": "network_admin"},
)
META = {"jwks_uri": "unused in unit tests", "id_token_signing_alg_values_supported": ["RS256"]}
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})


@pytest.fixture(autouse=True)
def provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider's JWKS: only KEY's public half (a double of the HTTP fetch; unit tests reach no server)."""

    def jwks(_config: oidc.OidcConfig, _meta: Mapping[str, Any]) -> KeySet:
        return KeySet.import_key_set({"keys": [KEY.as_dict(private=False)]})

    monkeypatch.setattr(oidc, "_jwks", jwks)


def _token(key: RSAKey = KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": "yunwang", "sub": "s-1", "iat": now, "exp": now + 300, "nonce": "n-1"}
    claims.update(overrides)
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in claims.items() if v is not None}, key)


def test_a_good_id_token_gives_its_claims() -> None:
    claims = oidc.validate_id_token(CONFIG, META, _token(), "n-1", None)
    assert (claims["sub"], claims["iss"]) == ("s-1", ISS)


@pytest.mark.parametrize(
    "bad",
    [
        {"key": OTHER},  # signed by someone else
        {"iss": "http://127.0.0.1:2/evil"},
        {"aud": "another-client"},
        {"exp": int(time.time()) - 3600},  # expired (beyond the 60 s leeway)
        {"nonce": "n-2"},
        {"nonce": None},
    ],
    ids=["signature", "issuer", "audience", "expired", "nonce", "no-nonce"],
)
def test_a_bad_id_token_is_refused(bad: dict[str, Any]) -> None:
    key = bad.pop("key", KEY)
    with pytest.raises(oidc.Refused):
        oidc.validate_id_token(CONFIG, META, _token(key, **bad), "n-1", None)


def test_a_tampered_payload_breaks_the_signature() -> None:
    head, _, sig = _token().split(".")
    forged = jwt.encode({"alg": "RS256"}, {"sub": "admin"}, OTHER).split(".")[1]
    with pytest.raises(oidc.Refused):
        oidc.validate_id_token(CONFIG, META, f"{head}.{forged}.{sig}", "n-1", None)


def test_unsigned_tokens_are_refused() -> None:
    with pytest.raises(oidc.Refused):
        meta = {**META, "id_token_signing_alg_values_supported": ["none", "RS256"]}
        oidc.validate_id_token(CONFIG, meta, _token().rsplit(".", 1)[0] + ".", "n-1", None)


def test_the_state_is_bound_to_the_browser_used_once_and_short_lived(db: Database) -> None:
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    with db.session() as s:
        for state, at in (("st-1", t0), ("st-2", t0 - timedelta(minutes=11))):
            s.add(OidcFlow(state_hash=hash_token(state), nonce="n", code_verifier="v" * 43, created_at=at))
    with db.session() as s, pytest.raises(oidc.Refused, match="state"):
        oidc.take_flow(s, "st-1", "st-other", t0)  # another browser's state cookie
    with db.session() as s:
        assert oidc.take_flow(s, "st-1", "st-1", t0).nonce == "n"
    with db.session() as s, pytest.raises(oidc.Refused, match="already used"):
        oidc.take_flow(s, "st-1", "st-1", t0)
    with db.session() as s, pytest.raises(oidc.Refused, match="took too long"):
        oidc.take_flow(s, "st-2", "st-2", t0)


def test_role_and_unit_come_from_the_configured_claims() -> None:
    base = {"iss": ISS, "sub": "s-9", "preferred_username": "wei", "name": "韦", "email": "w@gx.test"}
    one = oidc.map_identity(CONFIG, {**base, "yunwang_role": "sub-chief", "yunwang_unit": "U-1"})
    assert (one.username, one.role, one.unit_code, one.display_name) == ("wei", Role.SUB_CLOUD_CHIEF, "U-1", "韦")
    listed = oidc.map_identity(CONFIG, {**base, "yunwang_role": ["staff", "netops"], "yunwang_unit": ""})
    assert (listed.role, listed.unit_code) == (Role.NETWORK_ADMIN, None)
    for role in ("janitor", None, ["staff"], "admin"):  # "admin" is not in the map: refused too
        with pytest.raises(oidc.Refused, match="yunwang_role"):
            oidc.map_identity(CONFIG, {**base, "yunwang_role": role})
    plain = oidc.OidcConfig(issuer=ISS, client_id="c", redirect_url="r", role_claim="groups")  # no map: names
    assert oidc.map_identity(plain, {**base, "groups": ["x", "auditor"]}).role == Role.AUDITOR


def test_the_client_secret_is_not_in_the_config_repr() -> None:
    assert "s3cret-value" not in repr(CONFIG)


def test_a_silent_provider_holds_one_sign_in_not_every_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider that accepts connections and never answers: the first discovery waits its timeout and is refused;
    the next sign-ins within FAILURE_TTL_SECONDS are refused at once; after it, one sign-in asks the provider again
    while the others are still refused at once (no herd of sign-ins each waiting the timeout)."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accepted: the connection opens, no answer ever comes
    try:
        config = oidc.OidcConfig(
            issuer=f"http://127.0.0.1:{silent.getsockname()[1]}/issuer",
            client_id="yunwang",
            redirect_url="http://127.0.0.1:8080/auth/oidc/callback",
            timeout=0.5,
        )
        waits = []
        for _ in range(3):
            t = time.monotonic()
            with pytest.raises(oidc.Refused, match="unreachable"):
                oidc.metadata(config)
            waits.append(time.monotonic() - t)
        assert waits[0] >= 0.5 and waits[1] < 0.1 and waits[2] < 0.1, waits
        monkeypatch.setattr(oidc, "FAILURE_TTL_SECONDS", 0.0)  # the window has passed: asked again, waits again
        import threading

        probe_took: list[float] = []

        def probe() -> None:
            t = time.monotonic()
            with pytest.raises(oidc.Refused, match="unreachable"):
                oidc.metadata(config)
            probe_took.append(time.monotonic() - t)

        prober = threading.Thread(target=probe)
        prober.start()
        time.sleep(0.2)  # the prober is waiting for the silent provider: others are refused at once meanwhile
        t = time.monotonic()
        with pytest.raises(oidc.Refused, match="unreachable"):
            oidc.metadata(config)
        assert time.monotonic() - t < 0.1
        prober.join()
        assert probe_took[0] >= 0.5
    finally:
        silent.close()
        oidc._failed.clear()
