"""The console's HTML entry and static assets; the page carries no data, its scripts read the API.

Pages are hash routes (`/#/requests/12`) inside one document, so every view is a link the user can keep and
the server has one entry to serve. Assets are files of this package (no CDN, no build step).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).parent / "web"
STATIC_PATH = "/console/static"


def install(app: FastAPI) -> None:
    """GET / (the console) and its assets under STATIC_PATH."""
    router = APIRouter(tags=["console"])

    @router.get("/", include_in_schema=False)
    def console() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=WEB_DIR), name="console-static")
