"""Sign-in over HTTP (core/auth_api.py, core/sessions.py, core/deps.py) on SQLite and PostgreSQL: cookies and
their attributes, CSRF double submit, lock-out, expiry, rotation, logout, bearer tokens unchanged, no secret in
any response or log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select, update

from core import accounts
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from core.models import Account, AuthSession, ChangeLog
from core.times import now_utc
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

PW = "correct horse battery"
ADMIN_PW = "admin passphrase 2026"


def _app_client(db: Database, tmp_path: Path, base_url: str = "http://testserver", **kw: object) -> TestClient:
    settings = Settings(database_url=db.url, data_dir=tmp_path / "data", scheduler_enabled=False, **kw)  # type: ignore[arg-type]
    return TestClient(create_app(settings, registry=CollectorRegistry(), database=db), base_url=base_url)


@pytest.fixture
def web(any_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Database, int]]:
    with any_db.session() as s:
        unit = Inv(s).basic()["unit"]
        ctx = ChangeContext(actor="setup", role="admin")
        accounts.create(s, ctx, accounts.NewAccount("root.admin", Role.ADMIN, password=ADMIN_PW, display_name="管理员"))
        accounts.create(s, ctx, accounts.NewAccount("li.dept", Role.DEPARTMENT_USER, unit, password=PW))
    with _app_client(any_db, tmp_path) as c:
        yield c, any_db, unit


def _login(c: TestClient, username: str, password: str) -> dict[str, object]:
    r = c.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _count(db: Database, model: type[AuthSession] | type[Account]) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_login_sets_httponly_lax_cookies_and_says_who_i_am(web: tuple[TestClient, Database, int]) -> None:
    c, _, unit = web
    r = c.post("/auth/login", json={"username": "LI.DEPT", "password": PW})
    assert r.status_code == 200
    cookies = {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}
    session, csrf = cookies["yw_session"].lower(), cookies["yw_csrf"].lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert "httponly" not in csrf and "samesite=lax" in csrf
    assert "secure" not in session  # plain http (the demo): the cookie must still work
    body = r.json()
    assert body == {
        "name": "li.dept",
        "display_name": None,
        "role": "department_user",
        "unit_id": unit,
        "unit_name": body["unit_name"],
        "auth": "session",
        "csrf": c.cookies["yw_csrf"],
    }
    assert body["unit_name"]
    me = c.get("/api/v1/me").json()
    assert (me["name"], me["auth"], me["csrf"]) == ("li.dept", "session", c.cookies["yw_csrf"])
    assert r.headers["cache-control"] == "no-store"


def test_secure_flag_over_https_or_by_setting(any_db: Database, tmp_path: Path) -> None:
    with any_db.session() as s:
        accounts.create(s, ChangeContext(actor="t"), accounts.NewAccount("ops.one", Role.CLOUD_OPERATOR, password=PW))
    for base, kw in (("https://testserver", {}), ("http://testserver", {"cookie_secure": True})):
        with _app_client(any_db, tmp_path, base, **kw) as c:
            r = c.post("/auth/login", json={"username": "ops.one", "password": PW})
            assert all("; secure" in h.lower() for h in r.headers.get_list("set-cookie")), (base, kw)


def test_csrf_header_is_required_on_session_writes(web: tuple[TestClient, Database, int]) -> None:
    c, db, _ = web
    _login(c, "root.admin", ADMIN_PW)
    new = {"username": "wang.ops", "password": PW, "role": "cloud_operator"}
    before = _count(db, Account)
    for headers in ({}, {"X-CSRF-Token": "not-the-value"}):
        r = c.post("/api/v1/accounts", json=new, headers=headers)
        assert r.status_code == 403
        err = r.json()["error"]
        assert err["code"] == "forbidden" and err["details"][0]["field"] == "csrf" and "request_id" in err
    assert _count(db, Account) == before  # nothing written
    r = c.post("/api/v1/accounts", json=new, headers={"X-CSRF-Token": c.cookies["yw_csrf"]})
    assert r.status_code == 201, r.text
    assert _count(db, Account) == before + 1
    assert c.get("/api/v1/accounts").status_code == 200  # reads need no header


def test_bearer_tokens_still_work_and_need_no_csrf(web: tuple[TestClient, Database, int]) -> None:
    c, db, _ = web
    with db.session() as s:
        token = create_token(s, "ci-robot", Role.ADMIN)
    c.cookies.set("yw_session", "a-stale-cookie")  # bearer first: a stale cookie beside it does not matter
    headers = {"Authorization": f"Bearer {token}"}
    me = c.get("/api/v1/me", headers=headers).json()
    assert (me["name"], me["auth"], me["csrf"]) == ("ci-robot", "token", None)
    r = c.post("/api/v1/accounts", json={"username": "x.ops", "password": PW, "role": "auditor"}, headers=headers)
    assert r.status_code == 201


def test_refusals_say_the_same_whatever_was_wrong_and_five_lock(web: tuple[TestClient, Database, int]) -> None:
    c, db, _ = web
    answers = []
    for name, pw in [("nobody", PW)] + [("li.dept", "wrong wrong wrong")] * 5 + [("li.dept", PW)]:
        r = c.post("/auth/login", json={"username": name, "password": pw})
        assert r.status_code == 401
        answers.append(r.json()["error"]["message"])
    assert len(set(answers)) == 1 and answers[0].startswith("用户名或密码错误")
    assert "yw_session" not in c.cookies
    with db.session() as s:
        outcomes = [
            (e.after or {})["outcome"] for e in s.scalars(select(ChangeLog).where(ChangeLog.kind == "account_logins"))
        ]
        assert outcomes == ["unknown_username"] + ["wrong_password"] * 4 + ["locked_out", "locked"]
        rows = s.scalars(select(ChangeLog).where(ChangeLog.kind == "account_logins").order_by(ChangeLog.id)).all()
        # the typed "username" of an unknown account is stored nowhere (it may be a password, or a forged name)
        assert (rows[0].actor, rows[0].object_code) == ("system:sign-in", "未知用户名 / unknown username")
        assert {r.actor for r in rows[1:]} == {"li.dept"}
        assert not any("nobody" in str((r.actor, r.object_code, r.after)) for r in rows)
        a = accounts.require(s, "li.dept")
        assert a.locked_until is not None
    # the administrator unlocks it; then the right password works
    _login(c, "root.admin", ADMIN_PW)
    r = c.post(f"/api/v1/accounts/{a.id}/unlock", headers={"X-CSRF-Token": c.cookies["yw_csrf"]})
    assert r.status_code == 200 and r.json()["locked_until"] is None
    c.cookies.clear()
    assert _login(c, "li.dept", PW)["name"] == "li.dept"


def test_login_rotates_the_session_and_logout_deletes_it(web: tuple[TestClient, Database, int]) -> None:
    c, db, _ = web
    _login(c, "li.dept", PW)
    first = c.cookies["yw_session"]
    _login(c, "li.dept", PW)
    second = c.cookies["yw_session"]
    assert first != second and _count(db, AuthSession) == 1  # the old id was deleted at sign-in
    c.cookies.set("yw_session", first)
    assert c.get("/api/v1/me").status_code == 401
    c.cookies.set("yw_session", second)
    assert c.post("/auth/logout").status_code == 403  # a live session: the CSRF header is required
    r = c.post("/auth/logout", headers={"X-CSRF-Token": c.cookies["yw_csrf"]})
    assert r.status_code == 200 and _count(db, AuthSession) == 0
    assert any(h.startswith('yw_session=""') for h in r.headers.get_list("set-cookie"))
    c.cookies.set("yw_session", second)
    assert c.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("column", "back"), [("last_seen_at", timedelta(hours=8, seconds=1)), ("expires_at", timedelta(seconds=1))]
)
def test_sessions_expire_idle_and_absolute(web: tuple[TestClient, Database, int], column: str, back: timedelta) -> None:
    c, db, _ = web
    _login(c, "li.dept", PW)
    assert c.get("/api/v1/me").status_code == 200
    with db.session() as s:
        s.execute(update(AuthSession).values({column: now_utc() - back}))  # idle 8 h 1 s, or past its end
    r = c.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["details"][0]["field"] == "session"


def test_a_request_keeps_an_idle_session_alive(web: tuple[TestClient, Database, int]) -> None:
    c, db, _ = web
    _login(c, "li.dept", PW)
    with db.session() as s:
        s.execute(update(AuthSession).values(last_seen_at=now_utc() - timedelta(hours=7)))
    assert c.get("/api/v1/me").status_code == 200
    with db.session() as s:
        seen = s.scalar(select(AuthSession.last_seen_at))
    assert seen is not None and now_utc() - seen.replace(tzinfo=now_utc().tzinfo) < timedelta(minutes=1)


def test_disabling_an_account_ends_its_sessions(web: tuple[TestClient, Database, int]) -> None:
    c, db, _ = web
    _login(c, "li.dept", PW)
    with db.session() as s:
        accounts.update(s, ChangeContext(actor="root.admin"), accounts.require(s, "li.dept"), disabled=True)
    assert c.get("/api/v1/me").status_code == 401


def test_role_and_scope_come_from_the_account(web: tuple[TestClient, Database, int]) -> None:
    c, _, _ = web
    _login(c, "li.dept", PW)
    r = c.get("/api/v1/accounts")
    assert r.status_code == 403 and r.json()["error"]["details"][0]["field"] == "role"


def test_login_needs_json(web: tuple[TestClient, Database, int]) -> None:
    c, _, _ = web
    r = c.post("/auth/login", data={"username": "li.dept", "password": PW})
    assert r.status_code == 422 and "yw_session" not in c.cookies


def test_no_password_hash_or_session_id_in_responses_or_logs(
    web: tuple[TestClient, Database, int], caplog: pytest.LogCaptureFixture
) -> None:
    c, db, _ = web
    with caplog.at_level(logging.DEBUG):
        body = _login(c, "root.admin", ADMIN_PW)
        sid = c.cookies["yw_session"]
        listed = c.get("/api/v1/accounts")
        c.post("/auth/login", json={"username": "li.dept", "password": "a wrong password"})
        bad = c.post("/auth/login", json={"username": "li.dept", "password": "x" * 2000})
    with db.session() as s:
        hashes = [h for h in s.scalars(select(Account.password_hash)) if h]
    texts = [str(body), listed.text, bad.text, caplog.text]
    for secret in [ADMIN_PW, sid, "a wrong password", "x" * 2000, *hashes]:
        assert all(secret not in t for t in texts)
    assert all("password" not in k for row in listed.json() for k in row)
    assert bad.status_code == 422  # too long: refused before any hashing, and not echoed


def test_admin_changes_role_unit_and_disabled_but_not_its_own(web: tuple[TestClient, Database, int]) -> None:
    c, db, _ = web
    _login(c, "root.admin", ADMIN_PW)
    h = {"X-CSRF-Token": c.cookies["yw_csrf"]}
    with db.session() as s:
        dept, me = accounts.require(s, "li.dept").id, accounts.require(s, "root.admin").id
    r = c.patch(f"/api/v1/accounts/{dept}", json={"role": "auditor", "unit_id": None, "role_x": 1}, headers=h)
    assert r.status_code == 422  # unknown field: nothing changed
    r = c.patch(f"/api/v1/accounts/{dept}", json={"role": "sub_cloud_chief", "unit_id": None}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "unit_id"  # scoped needs a unit
    r = c.patch(f"/api/v1/accounts/{dept}", json={"role": "auditor", "unit_id": None, "disabled": True}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert (body["role"], body["unit_id"], body["disabled"]) == ("auditor", None, True)
    assert body["created_at"].endswith("+00:00") and "password_hash" not in body
    assert c.patch(f"/api/v1/accounts/{me}", json={"disabled": True}, headers=h).status_code == 403
    with db.session() as s:
        kinds = [(e.actor, e.object_id) for e in s.scalars(select(ChangeLog).where(ChangeLog.kind == "accounts"))]
    assert kinds[-1] == ("root.admin", dept) and len(kinds) == 3  # two created in setup, one change
