"""The console's HTML entry and static assets; the page carries no data, its scripts read the API.

Pages are hash routes (`/#/requests/12`) inside one document, so every view is a link the user can keep and
the server has one entry to serve. Assets are files of this package (no CDN, no build step).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).parent / "web"
STATIC_PATH = "/console/static"


SSO_LINK = '<p><a id="sso" href="/auth/oidc/login">'


def install(app: FastAPI, single_sign_on: bool) -> None:
    """GET / (the console) and its assets under STATIC_PATH; the sign-on link only when OIDC is configured."""
    router = APIRouter(tags=["console"])
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    if not single_sign_on:  # a link that could only fail is not offered
        start = html.index(SSO_LINK)
        html = html[:start] + html[html.index("</p>", start) + len("</p>") :]

    @router.get("/", include_in_schema=False)
    def console() -> HTMLResponse:
        return HTMLResponse(html)

    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=WEB_DIR), name="console-static")
