"""The cloud-chief office page (云长制办公室): a static page whose script reads the JSON APIs with a bearer token.

The HTML carries no figures and no secrets; the browser asks for a token, keeps it in sessionStorage and calls
/api/v1/rates, /api/v1/reports/rankings and /api/v1/reports with `Authorization: Bearer`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).parent / "web"
STATIC_PATH = "/office/static"


def build_router() -> APIRouter:
    """GET /office: the page itself (assets are mounted by the app at STATIC_PATH from WEB_DIR)."""
    router = APIRouter(tags=["office page"])

    @router.get("/office", include_in_schema=False)
    def office() -> FileResponse:
        return FileResponse(WEB_DIR / "office.html", media_type="text/html; charset=utf-8")

    return router
