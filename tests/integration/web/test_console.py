"""The console shell in a real Chromium against a real yunwang: sign-in by token, the role's home, sign-out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from core import accounts
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role

if TYPE_CHECKING:
    from tests.integration.web.conftest import Server

pytestmark = pytest.mark.integration
ARTEFACTS = Path(__file__).resolve().parents[3] / "var" / "test" / "screenshots"


def unlabelled_controls(page: Any) -> list[str]:
    """Inputs, selects, textareas and buttons a screen reader could not name (accessibility basics)."""
    names: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter((e) => e.offsetParent !== null)
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                           && !(e.tagName === 'BUTTON' && e.textContent.trim()))
            .map((e) => e.outerHTML.slice(0, 80))"""
    )
    return names


def sign_in_with_token(page: Any, url: str, token: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-loaded=signed-out]")
    page.click("text=使用 API 令牌")
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("body[data-loaded=home]")


def test_console_signs_in_by_token_shows_the_home_figures_and_signs_out(server: Server, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1300, "height": 900}, locale="zh-CN")
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-loaded=signed-out]")
    assert "自治区甲厅" not in page.content()  # the HTML carries no data
    assert unlabelled_controls(page) == []

    page.click("text=使用 API 令牌")
    page.fill("#token", "yw_not-a-token")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#error:has-text('令牌无效')")

    sign_in_with_token(page, server.url, server.token)
    assert "office-browser-test" in page.inner_text("[data-testid=who]")
    assert server.token not in page.content()
    nodes = httpx.get(
        server.url + "/api/v1/collectors/nodes", headers={"Authorization": f"Bearer {server.token}"}, timeout=30
    ).json()
    shown = page.inner_text("[data-testid=home-nodes] .big")
    assert shown == str(len(nodes))
    assert unlabelled_controls(page) == []
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "console-home.png"), full_page=True)

    page.goto(server.url + "/#/no-such-page")
    page.wait_for_selector("body[data-loaded='404']")
    page.goto(server.url + "/#/inventory/no-such-kind/1")  # a page whose API call fails says so, not "loading…"
    page.wait_for_selector("h2:has-text('无法显示')")
    page.click("#sign-out")
    page.wait_for_selector("body[data-loaded=signed-out]")
    page.reload()
    page.wait_for_selector("body[data-loaded=signed-out]")  # the token is gone with the sign-out
    page.close()


def test_console_is_keyboard_reachable(server: Server, browser: Any) -> None:
    page = browser.new_page(locale="zh-CN")
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-loaded=signed-out]")
    focus = "document.activeElement.id || document.activeElement.textContent.trim()"
    assert page.evaluate(focus) == "login-username"  # the sign-in form takes the focus
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate(focus))
    # no single sign-on link on this server (no YUNWANG_OIDC_*): the token form's toggle comes next
    assert order == [
        "login-password",
        "登录 Sign in",
        "使用 API 令牌（演示、调试）/ Use an API token (demo, debugging)",
    ]
    page.close()


def test_console_signs_in_with_a_password_by_keyboard_and_signs_out_for_real(server: Server, browser: Any) -> None:
    """An account signs in through the form (keyboard only): the session cookie is HttpOnly, the console's writes
    carry the CSRF header (sign-out succeeds), and after sign-out the old cookie no longer opens the API."""
    db = Database(server.db_url)
    with db.session() as s:
        ctx = ChangeContext(actor="test", role="admin")
        accounts.create(s, ctx, accounts.NewAccount("李四", Role.NETWORK_ADMIN, password="correct horse battery"))
    db.dispose()
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-loaded=signed-out]")
    page.keyboard.type("李四")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password!")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error:has-text('用户名或密码错误')")
    page.fill("#login-username", "李四")
    page.fill("#login-password", "correct horse battery")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-loaded=home]")
    assert "李四" in page.inner_text("[data-testid=who]")
    assert "外网" in page.inner_text("#nav")  # the network admin's navigation
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["yw_session"]["httpOnly"] is True and cookies["yw_session"]["sameSite"] == "Lax"
    assert cookies["yw_csrf"]["httpOnly"] is False
    stolen = cookies["yw_session"]["value"]
    assert "correct horse battery" not in page.content() and stolen not in page.content()
    me = httpx.get(server.url + "/api/v1/me", cookies={"yw_session": stolen}, timeout=30)
    assert me.status_code == 200 and me.json()["auth"] == "session"

    page.goto(server.url + "/office")  # the rates page reads the API with the same session: no token to enter
    page.wait_for_selector("body[data-loaded]:not([data-loaded=''])")
    assert page.is_visible("#app") and not page.is_visible("#login")
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-loaded=home]")
    page.click("#sign-out")
    page.wait_for_selector("body[data-loaded=signed-out]")
    assert not page.is_visible("#sign-out")  # [hidden] wins over the header's display:flex
    after = httpx.get(server.url + "/api/v1/me", cookies={"yw_session": stolen}, timeout=30)
    assert after.status_code == 401  # the session ended on the server, not only in the browser
    context.close()
