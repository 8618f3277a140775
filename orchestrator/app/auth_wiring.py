"""Sign-in settings → core's session and single sign-on configurations (the composition root's part)."""

from __future__ import annotations

from datetime import timedelta

from core.oidc import OidcConfig
from core.sessions import AuthConfig
from orchestrator.app.settings import Settings


def auth_config(s: Settings) -> AuthConfig:
    return AuthConfig(
        idle=timedelta(minutes=s.session_idle_minutes),
        absolute=timedelta(hours=s.session_absolute_hours),
        cookie_secure=s.cookie_secure,
    )


def oidc_config(s: Settings) -> OidcConfig | None:
    """The single sign-on client, or None when YUNWANG_OIDC_ISSUER / _CLIENT_ID / _REDIRECT_URL are not all set."""
    if not (s.oidc_issuer and s.oidc_client_id and s.oidc_redirect_url):
        return None
    return OidcConfig(
        issuer=s.oidc_issuer,
        client_id=s.oidc_client_id,
        redirect_url=s.oidc_redirect_url,
        client_secret=s.oidc_client_secret.get_secret_value() if s.oidc_client_secret else None,
        scopes=s.oidc_scopes,
        username_claim=s.oidc_username_claim,
        role_claim=s.oidc_role_claim,
        unit_claim=s.oidc_unit_claim,
        role_map=dict(s.oidc_role_map),
    )
