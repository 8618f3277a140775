"""Providers of the one services container: a feature that was not installed is a clear 503, not a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from core.http import error_body, install_errors
from core.wiring import Key, provider, services

GREETING: Key[str] = Key("greeting")
get_greeting = provider(GREETING)


def _app() -> FastAPI:
    app = FastAPI()
    install_errors(app)

    @app.get("/hello")
    def hello(greeting: Annotated[str, Depends(get_greeting)]) -> dict[str, str]:
        return {"greeting": greeting}

    return app


def test_an_installed_provider_answers() -> None:
    app = _app()
    services(app).provide(GREETING, "你好")
    assert TestClient(app).get("/hello").json() == {"greeting": "你好"}


def test_a_missing_provider_is_a_503_naming_the_feature() -> None:
    resp = TestClient(_app()).get("/hello")
    assert resp.status_code == 503
    err = resp.json()["error"]
    assert err["code"] == "unavailable" and "greeting is not installed" in err["message"]
    assert err["details"] == [{"message": "not installed", "field": "greeting"}]


def test_every_5xx_the_service_sends_has_its_own_code() -> None:
    assert error_body(503, "x", "r")["error"]["code"] == "unavailable"
    assert error_body(500, "x", "r")["error"]["code"] == "internal_error"
