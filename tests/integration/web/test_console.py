"""The console shell in a real Chromium against a real yunwang: sign-in by token, the role's home, sign-out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

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
    assert order == ["login-password", "登录 Sign in", "sso"]
    page.close()
