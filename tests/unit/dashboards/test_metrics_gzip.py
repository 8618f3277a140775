"""`/metrics` answers gzip when the scraper accepts it (Prometheus sends `Accept-Encoding: gzip`), plain otherwise."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from core.db import Database
from core.enums import Role
from core.metrics import accepts_gzip
from core.wiring import services
from dashboards.metrics import RATES_EXPORTER
from tests import known_rates


@pytest.fixture
def scraper(client: TestClient, db: Database, token_for: Callable[..., str]) -> TestClient:
    with db.session() as s:
        known_rates.build(s)
    services(client.app).get(RATES_EXPORTER).recompute()  # type: ignore[arg-type]
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    return client


def raw_get(client: TestClient, accept: str) -> tuple[dict[str, str], bytes]:
    """Status-checked headers and the body as sent (not decoded by the client)."""
    with client.stream("GET", "/metrics", headers={"Accept-Encoding": accept}) as r:
        assert r.status_code == 200
        return dict(r.headers), b"".join(r.iter_raw())


def rate_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("yunwang_rate_")]


def test_gzip_when_accepted_and_the_same_metrics_as_plain(scraper: TestClient) -> None:
    plain_headers, plain = raw_get(scraper, "identity")
    assert "content-encoding" not in plain_headers
    assert plain_headers["vary"] == "Accept-Encoding"
    zipped_headers, zipped = raw_get(scraper, "gzip")
    assert zipped_headers["content-encoding"] == "gzip"
    assert zipped_headers["vary"] == "Accept-Encoding"
    assert zipped[:2] == b"\x1f\x8b"  # gzip magic
    member = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one gzip member, as clients that stop at the first read it
    text = member.decompress(zipped).decode()
    assert member.eof and member.unused_data == b""
    assert rate_lines(text) == rate_lines(plain.decode())
    assert 'yunwang_rate_numerator_items{city="450300",level="city",rate="systems_migrated",unit="GU"} 1.0' in text
    assert "yunwang_http_request_duration_seconds_count" in text  # the registry's part is there too
    assert len(zipped) < len(plain) / 3
    _, again = raw_get(scraper, "gzip")  # the pre-compressed snapshot is reused, not consumed
    assert rate_lines(gzip.decompress(again).decode()) == rate_lines(plain.decode())


def test_gzip_refused_with_q_zero_gives_plain(scraper: TestClient) -> None:
    headers, body = raw_get(scraper, "gzip;q=0, identity")
    assert "content-encoding" not in headers
    assert body.startswith(b"# HELP")


def test_gzip_before_the_first_recompute(client: TestClient, token_for: Callable[..., str]) -> None:
    client.headers["Authorization"] = f"Bearer {token_for(Role.AUDITOR)}"
    headers, body = raw_get(client, "gzip")
    assert headers["content-encoding"] == "gzip"
    assert b"yunwang_rates_recompute_failures_total" in gzip.decompress(body)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP", True),
        ("*", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("identity", False),
        ("deflate, br", False),
        ("", False),
        (None, False),
        ("gzip;q=abc", False),
    ],
)
def test_accept_encoding_parsing(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected
