"""Single sign-on against a real OpenID Connect provider (npm `oidc-provider`, started by
tests/env/setup-60-oidc.sh) and a real yunwang (uvicorn subprocess) on SQLite and PostgreSQL.

The provider's own login and consent forms are filled in with httpx (the provider's dev pages load web fonts from
outside, which a browser here must not fetch). Users and their claims are in tests/env/oidc/provider.mjs: alice
(`sub-chief`, unit GX-OIDC-UNIT), bob (`['staff', 'netops']`, no unit), mallory (`janitor`: no mapping).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import ColumnElement, func, select

from core.db import Base, Database
from core.models import Account, AuthSession, ChangeLog, OidcFlow
from tests.builders import Inv
from tests.live_server import LiveServer, free_port

pytestmark = pytest.mark.integration
ISSUER = os.environ.get("YUNWANG_TEST_OIDC_ISSUER")
CLIENT_SECRET = "yunwang-test-client-secret"  # the test provider's static client (provider.mjs)
ROLE_MAP = {"sub-chief": "sub_cloud_chief", "netops": "network_admin"}


@pytest.fixture(scope="module")
def issuer() -> str:
    if not ISSUER:
        if os.environ.get("CI") == "true" or os.geteuid() == 0:
            pytest.fail(
                "YUNWANG_TEST_OIDC_ISSUER is unset: tests/env/setup-60-oidc.sh should have started the provider"
            )
        pytest.skip("YUNWANG_TEST_OIDC_ISSUER unset: run tests/env/setup-60-oidc.sh (starts the OIDC provider)")
    return ISSUER


@pytest.fixture
def server(issuer: str, any_db: Database, tmp_path: Path) -> Iterator[tuple[LiveServer, Database, int]]:
    with any_db.session() as s:
        inv = Inv(s)
        b = inv.basic()
        unit = inv.unit(b["region"], code="GX-OIDC-UNIT", name="单点登录测试单位")
        s.commit()
    port = free_port()
    env = {
        "YUNWANG_OIDC_ISSUER": issuer,
        "YUNWANG_OIDC_CLIENT_ID": "yunwang-test",
        "YUNWANG_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "YUNWANG_OIDC_REDIRECT_URL": f"http://127.0.0.1:{port}/auth/oidc/callback",
        "YUNWANG_OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
        "YUNWANG_LOG_LEVEL": "DEBUG",
    }
    live = LiveServer.start(any_db.url, tmp_path / "live", env=env, port=port)
    try:
        yield live, any_db, unit
    finally:
        live.stop()


def _form(page: httpx.Response) -> str:
    found = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert found, page.text[:500]
    return str(page.url.join(found.group(1)))


def sign_in_at_provider(c: httpx.Client, live: LiveServer, login: str) -> str:
    """Start at yunwang, fill in the provider's login and consent forms; the callback URL yunwang gets back."""
    r = c.get(live.url + "/auth/oidc/login")
    assert r.status_code == 302
    auth = urlsplit(r.headers["location"])
    q = parse_qs(auth.query)
    assert q["code_challenge_method"] == ["S256"] and q["response_type"] == ["code"]
    assert {"state", "nonce", "code_challenge", "redirect_uri"} <= set(q)
    url = r.headers["location"]
    for _ in range(12):  # provider: /auth → /interaction/<uid> (login) → … (consent) → /auth/<uid> → callback
        if url.startswith(live.url + "/auth/oidc/callback"):
            return url
        r = c.get(url)
        if r.is_redirect:
            url = str(r.url.join(r.headers["location"]))
            continue
        assert r.status_code == 200, r.text[:500]
        if 'name="login"' in r.text:
            r = c.post(_form(r), data={"prompt": "login", "login": login, "password": "any"})
        else:
            r = c.post(_form(r), data={"prompt": "consent"})
        assert r.is_redirect, r.text[:500]
        url = str(r.url.join(r.headers["location"]))
    raise AssertionError(f"never came back to the callback: {url}")


def _count(db: Database, model: type[Base], *where: ColumnElement[bool]) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_full_flow_maps_role_and_unit_and_starts_a_session(server: tuple[LiveServer, Database, int]) -> None:
    live, db, unit = server
    with httpx.Client(timeout=15) as c:
        callback = sign_in_at_provider(c, live, "alice")
        r = c.get(callback)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookies = r.headers.get_list("set-cookie")
        session_cookie = next(h for h in cookies if h.startswith("yw_session="))
        assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
        me = c.get(live.url + "/api/v1/me")
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["name"] == "alice" and body["role"] == "sub_cloud_chief" and body["auth"] == "session"
        assert body["unit_id"] == unit and body["unit_name"] == "单点登录测试单位"
        assert body["display_name"] == "韦丽 Alice Wei"
        # a second sign-on of the same person reuses the account (issuer + subject), one account only
        r = c.get(sign_in_at_provider(c, live, "alice"))
        assert r.status_code == 303
    assert _count(db, Account, Account.username == "alice", Account.source == "oidc") == 1
    assert _count(db, OidcFlow) == 0  # each state used once
    logins = _count(db, ChangeLog, ChangeLog.kind == "account_logins", ChangeLog.actor == "alice")
    assert logins == 2
    assert CLIENT_SECRET not in live.log()


def test_a_list_claim_maps_through_the_role_map(server: tuple[LiveServer, Database, int]) -> None:
    live, _, _ = server
    with httpx.Client(timeout=15) as c:
        assert c.get(sign_in_at_provider(c, live, "bob")).status_code == 303
        body = c.get(live.url + "/api/v1/me").json()
    assert (body["role"], body["unit_id"]) == ("network_admin", None)


def test_an_unmappable_role_is_refused_and_nothing_is_created(server: tuple[LiveServer, Database, int]) -> None:
    live, db, _ = server
    with httpx.Client(timeout=15) as c:
        r = c.get(sign_in_at_provider(c, live, "mallory"))
        assert r.status_code == 403
        assert "登录被拒绝" in r.text and "yunwang_role" in r.text
        assert "yw_session" not in c.cookies
        assert c.get(live.url + "/api/v1/me").status_code == 401
    assert _count(db, Account) == 0 and _count(db, AuthSession) == 0
    refused = _count(db, ChangeLog, ChangeLog.kind == "account_logins", ChangeLog.actor == "system:sign-in")
    assert refused == 1


def test_a_tampered_state_is_refused(server: tuple[LiveServer, Database, int]) -> None:
    live, db, _ = server
    with httpx.Client(timeout=15) as c:
        callback = urlsplit(sign_in_at_provider(c, live, "alice"))
        q = {k: v[0] for k, v in parse_qs(callback.query).items()}
        q["state"] = q["state"][:-2] + ("AA" if not q["state"].endswith("AA") else "BB")
        r = c.get(f"{live.url}/auth/oidc/callback?{urlencode(q)}")
        assert r.status_code == 403 and "state" in r.text
        assert c.get(live.url + "/api/v1/me").status_code == 401
    assert _count(db, Account) == 0 and _count(db, AuthSession) == 0
