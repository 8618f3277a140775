"""Single sign-on (统一身份认证) through OpenID Connect: authorization code with PKCE (S256), state and nonce.

`authlib` is the client (authorization URL with the S256 challenge, code exchange at the token endpoint) and
validates the id_token's claims (issuer, audience, expiry, nonce, at_hash) after `joserfc` checked its signature
against the provider's JWKS. The provider is found by discovery (`<issuer>/.well-known/openid-configuration`).
Each flow's state is stored hashed with its nonce and PKCE verifier and used once; the browser also carries the
state in a cookie, so a callback started elsewhere is refused. Role and unit come from configurable claims.
"""

from __future__ import annotations

import hmac
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.enums import Role
from core.identity import hash_token
from core.models import OidcFlow
from core.times import from_db

with warnings.catch_warnings():  # authlib 1.9 would rather use httpx2; this project pins httpx (its API is the same)
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

FLOW_TTL = timedelta(minutes=10)
METADATA_TTL_SECONDS = 300.0
# After the provider failed to answer its discovery document, sign-ins are refused at once for this long instead of
# each waiting the full timeout in a handler thread (a silent provider held every sign-in 10 s).
FAILURE_TTL_SECONDS = 15.0


class Refused(Exception):
    """A sign-on that must not go on; the message is shown to the person (Chinese first)."""


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    redirect_url: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: str = "openid profile email"
    username_claim: str = "preferred_username"
    role_claim: str = "yunwang_role"
    unit_claim: str = "yunwang_unit"
    role_map: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, mapped to yunwang's terms."""

    issuer: str
    subject: str
    username: str
    role: Role
    unit_code: str | None
    display_name: str | None
    email: str | None


_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_failed: dict[str, tuple[float, str]] = {}  # issuer → (when discovery last failed, the refusal)
_probing: set[str] = set()  # issuers being asked again after a failure
_probe_lock = threading.Lock()


def metadata(config: OidcConfig) -> dict[str, Any]:
    """The provider's discovery document (cached a few minutes); its issuer must be the configured one."""
    cached = _metadata.get(config.issuer)
    if cached and time.monotonic() - cached[0] < METADATA_TTL_SECONDS:
        return cached[1]
    failed, probing = _failed.get(config.issuer), False
    if failed:
        with _probe_lock:  # after a failure one sign-in asks the provider again; the others are refused meanwhile
            if time.monotonic() - failed[0] < FAILURE_TTL_SECONDS or config.issuer in _probing:
                raise Refused(
                    failed[1]
                    + f"（{FAILURE_TTL_SECONDS:.0f} 秒后再试 / asked again {FAILURE_TTL_SECONDS:.0f} s after the failure）"
                )
            _probing.add(config.issuer)
            probing = True
    try:
        doc = _discover(config)
    finally:
        if probing:
            _probing.discard(config.issuer)
    if doc.get("issuer") != config.issuer:
        raise Refused("统一身份认证服务的 issuer 与配置不符 / the provider's issuer differs from the configured one")
    _metadata[config.issuer] = (time.monotonic(), doc)
    return doc


def _discover(config: OidcConfig) -> dict[str, Any]:
    url = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        resp = httpx.get(url, timeout=config.timeout)
        resp.raise_for_status()
        doc: dict[str, Any] = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        message = f"统一身份认证服务不可达 / the sign-on provider is unreachable ({type(exc).__name__})"
        _failed[config.issuer] = (time.monotonic(), message)
        raise Refused(message) from exc
    _failed.pop(config.issuer, None)
    return doc


def _client(config: OidcConfig) -> OAuth2Client:
    return OAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=config.scopes,
        redirect_uri=config.redirect_url,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if config.client_secret else "none",
        timeout=config.timeout,
    )


def begin(session: Session, config: OidcConfig, now: datetime) -> tuple[str, str]:
    """Start a flow: (the provider's authorization URL, the state for the browser's cookie)."""
    meta = metadata(config)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    session.execute(delete(OidcFlow).where(OidcFlow.created_at < now - FLOW_TTL))
    session.add(OidcFlow(state_hash=hash_token(state), nonce=nonce, code_verifier=verifier, created_at=now))
    with _client(config) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
    return str(url), state


def take_flow(session: Session, state: str, cookie_state: str | None, now: datetime) -> OidcFlow:
    """The stored flow of this state, deleted (used once); refused when the state is unknown, old or not ours."""
    if not state or not cookie_state or not hmac.compare_digest(state, cookie_state):
        raise Refused("登录状态校验失败（state 不符）/ the sign-on state does not match this browser's")
    flow = session.scalar(select(OidcFlow).where(OidcFlow.state_hash == hash_token(state)))
    if flow is None:
        raise Refused("登录状态未知或已使用 / unknown or already used sign-on state")
    session.delete(flow)
    if from_db(flow.created_at) + FLOW_TTL < now:
        raise Refused("登录已超时，请重新登录 / the sign-on took too long: start again")
    return flow


def exchange(config: OidcConfig, flow: OidcFlow, code: str) -> dict[str, Any]:
    """Trade the code (with the PKCE verifier) for tokens and return the validated id_token's claims."""
    meta = metadata(config)
    try:
        with _client(config) as client:
            token = client.fetch_token(
                meta["token_endpoint"], code=code, code_verifier=flow.code_verifier, grant_type="authorization_code"
            )
    except Exception as exc:  # authlib raises OAuthError; httpx its own; neither may leak the code or secret
        raise Refused(f"授权码兑换失败 / the code exchange failed ({type(exc).__name__})") from None
    if "id_token" not in token:
        raise Refused("统一身份认证未返回 id_token / the provider returned no id_token")
    return validate_id_token(config, meta, str(token["id_token"]), flow.nonce, token.get("access_token"))


def _jwks(config: OidcConfig, meta: Mapping[str, Any]) -> KeySet:
    resp = httpx.get(meta["jwks_uri"], timeout=config.timeout)
    resp.raise_for_status()
    return KeySet.import_key_set(resp.json())


def validate_id_token(
    config: OidcConfig, meta: Mapping[str, Any], id_token: str, nonce: str, access_token: str | None
) -> dict[str, Any]:
    """Signature (the provider's JWKS), issuer, audience, expiry and nonce of an id_token; its claims."""
    algs = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    try:
        decoded = jwt.decode(
            id_token, _jwks(config, meta), registry=JWSRegistry(algorithms=[a for a in algs if a != "none"])
        )
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "value": config.issuer}, "aud": {"essential": True, "value": config.client_id}},
            {"nonce": nonce, "client_id": config.client_id, "access_token": access_token},
        )
        claims.validate(leeway=60)
    except (JoseError, httpx.HTTPError, ValueError) as exc:
        raise Refused(f"id_token 校验失败 / the id_token is not valid ({type(exc).__name__})") from None
    out = dict(claims)
    aud = out.get("aud")
    if out.get("nonce") != nonce or config.client_id not in (aud if isinstance(aud, list) else [aud]):
        raise Refused("id_token 的 nonce 或受众不符 / the id_token's nonce or audience does not match")
    return out


def map_identity(config: OidcConfig, claims: Mapping[str, Any]) -> Identity:
    """Username, role and unit from the claims; refused when the role cannot be mapped."""
    raw = claims.get(config.role_claim)
    values = [str(v) for v in (raw if isinstance(raw, list) else [raw] if raw is not None else [])]
    role = next((r for r in (_role(config, v) for v in values) if r is not None), None)
    if role is None:
        raise Refused(
            f"统一身份认证未给出可识别的角色（声明 {config.role_claim}）/ the provider gave no role yunwang knows "
            f"(claim {config.role_claim}): ask the administrator to assign one"
        )
    username = claims.get(config.username_claim) or claims.get("sub")
    unit = claims.get(config.unit_claim)
    return Identity(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        username=str(username),
        role=role,
        unit_code=str(unit) if unit not in (None, "") else None,
        display_name=str(claims["name"]) if claims.get("name") else None,
        email=str(claims["email"]) if claims.get("email") else None,
    )


def _role(config: OidcConfig, value: str) -> Role | None:
    mapped = config.role_map.get(value) if config.role_map else value
    try:
        return Role(mapped) if mapped is not None else None
    except ValueError:
        return None
