"""/docs (Swagger UI) and /redoc render in a real Chromium with every outside request refused.

Their scripts and styles come from the installed fastapi-offline package through the app itself, and the
page's Content-Security-Policy ('self' only) would block a CDN even if one were named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.web.conftest import Server

pytestmark = pytest.mark.integration


def _offline_page(server: Server, browser: Any) -> tuple[Any, Any, list[str], list[str]]:
    context = browser.new_context()
    outside: list[str] = []
    seen: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        seen.append(url)
        if url.startswith(server.url) or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page, outside, errors


def test_swagger_ui_renders_offline(server: Server, browser: Any) -> None:
    context, page, outside, errors = _offline_page(server, browser)
    try:
        page.goto(server.url + "/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30000)
        assert "yunwang" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock-tag-section", timeout=30000)
        assert page.locator(".opblock").count() > 100  # every operation listed
        assert page.locator("button.authorize").count() == 1  # the bearer scheme is offered
        assert outside == []
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()


def test_redoc_renders_offline(server: Server, browser: Any) -> None:
    context, page, outside, errors = _offline_page(server, browser)
    try:
        page.goto(server.url + "/redoc")
        page.wait_for_selector("h1", timeout=30000)
        assert "yunwang" in page.inner_text("h1"), (page.inner_text("body")[:1500], errors)
        page.wait_for_selector("[role=menuitem], label[role=menuitem], li[data-item-id]", timeout=30000)
        assert outside == []
        # ReDoc's "powered by" logo names its CDN; the page's CSP (img-src 'self') stops it in the browser.
        blocked = [e for e in errors if "Content Security Policy" in e]
        assert all("img-src" in e and "logo" in e for e in blocked), blocked
    finally:
        context.close()
