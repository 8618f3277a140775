"""GET /api/v1/me (who the console is signed in as) and GET / (the console page, no data in it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.db import Database
from core.enums import Role
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv


def test_me_names_the_caller_its_role_and_unit(client: TestClient, db: Database, token_for: Callable[..., str]) -> None:
    with db.session() as s:
        inv = Inv(s)
        region = inv.region()
        unit_id = inv.add("units", name="自治区测试厅", level="region", region_id=region)
        s.commit()
    token = token_for(Role.DEPARTMENT_USER, unit_id, name="张三")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["name"] == "张三"
    assert body["role"] == "department_user"
    assert body["unit_id"] == unit_id and body["unit_name"] == "自治区测试厅" and body["scoped"] is True
    assert token not in me.text

    office = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token_for(Role.CLOUD_CHIEF_OFFICE)}"})
    assert office.json()["unit_id"] is None and office.json()["scoped"] is False

    anonymous = client.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"


def test_root_serves_the_console_page_and_its_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/console/static/js/main.js" in page.text
    script = client.get("/console/static/js/core.js")
    assert script.status_code == 200 and "export async function api" in script.text


def test_the_single_sign_on_link_is_offered_only_when_oidc_is_configured(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    assert 'id="sso"' not in client.get("/").text  # the default test app has no YUNWANG_OIDC_*
    settings = Settings(
        database_url=db.url,
        data_dir=tmp_path / "data",
        scheduler_enabled=False,
        oidc_issuer="http://127.0.0.1:9/realm",  # never contacted: the link is a static part of the page
        oidc_client_id="yunwang",
        oidc_redirect_url="http://127.0.0.1:8080/auth/oidc/callback",
    )
    with TestClient(create_app(settings, registry=CollectorRegistry(), database=db)) as sso:
        page = sso.get("/").text
    assert 'id="sso" href="/auth/oidc/login"' in page and "统一身份认证登录" in page
