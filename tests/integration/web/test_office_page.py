"""The office page in a real Chromium against a real yunwang: the figures on the page are the API's figures."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from tests.integration.web.conftest import Server

pytestmark = pytest.mark.integration
FEB_END = "2024-02-29T23:59:59.999999+08:00"
SCREENSHOT = Path(__file__).resolve().parents[3] / "var" / "test" / "office.png"


def pct(x: float | None) -> str:
    """The page's percentage format (JavaScript toFixed(2))."""
    return "—" if x is None else f"{x * 100:.2f}%"


def _api(server: Server, path: str, **params: Any) -> Any:
    r = httpx.get(server.url + path, params=params, headers={"Authorization": f"Bearer {server.token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def _wait_reload(page: Any, before: str | None) -> None:
    page.wait_for_function("(b) => document.body.dataset.loaded && document.body.dataset.loaded !== b", arg=before)


def _drill_codes(page: Any, button: Any) -> tuple[list[str], str]:
    page.evaluate("document.getElementById('drill').hidden = true")
    button.click()
    page.wait_for_selector("#drill:not([hidden])")
    rows = page.locator("[data-testid=drill-row]")
    return [rows.nth(i).get_attribute("data-code") or "" for i in range(rows.count())], page.inner_text("#drill-total")


def test_office_page_shows_the_api_figures_and_drills_down(server: Server, browser: Any) -> None:
    published = httpx.post(
        server.url + "/api/v1/reports/2024-01/publish", headers={"Authorization": f"Bearer {server.token}"}, timeout=60
    )
    assert published.status_code == 201, published.text
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page.goto(server.url + "/office")
    assert "自治区甲厅" not in page.content()  # no data in the HTML
    page.fill("#token", server.token)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-loaded]")
    assert server.token not in page.content()  # kept in sessionStorage, not in the DOM

    before = page.evaluate("document.body.dataset.loaded")
    page.select_option("#month", "2024-02")
    _wait_reload(page, before)
    assert FEB_END in page.inner_text("[data-testid=asof]")

    rates = _api(server, "/api/v1/rates", as_of=FEB_END)
    cards = page.locator("[data-testid=rate-card]")
    assert cards.count() == len(rates) == 5
    for rate in rates:
        card = page.locator(f"[data-testid=rate-card][data-key={rate['key']}]")
        o = rate["overall"]
        assert card.locator("[data-testid=numerator]").inner_text() == str(o["numerator"])
        assert card.locator("[data-testid=denominator]").inner_text() == str(o["denominator"])
        assert card.locator("[data-testid=ratio]").inner_text() == pct(o["ratio"])
        assert card.locator("[data-testid=target]").inner_text() == pct(o["target"])
        assert card.locator("[data-testid=excluded]").inner_text() == str(sum(rate["excluded_counts"].values()))
    systems = page.locator("[data-testid=rate-card][data-key=systems_migrated]")
    assert systems.locator("[data-testid=numerator]").inner_text() == "4"  # known by hand for February
    assert systems.locator("[data-testid=denominator]").inner_text() == "7"

    ranking = _api(server, "/api/v1/reports/rankings", as_of=FEB_END)
    rows = page.locator("[data-testid=unit-rank-row]")
    assert rows.count() == len(ranking["units"])
    for i, unit in enumerate(ranking["units"][:2]):
        row = rows.nth(i)
        assert row.get_attribute("data-key") == unit["key"]
        assert row.locator("[data-testid=rank]").inner_text() == str(unit["rank"])
        assert row.locator("[data-testid=name]").inner_text() == unit["label"]
        assert row.locator("[data-testid=score]").inner_text() == pct(unit["score"])
    first_city = page.locator("[data-testid=city-rank-row]").first
    assert first_city.get_attribute("data-key") == ranking["cities"][0]["key"]

    for part in ("numerator", "excluded"):
        codes, total = _drill_codes(page, systems.locator(f"[data-testid={part}]"))
        api = _api(server, "/api/v1/rates/systems_migrated/items", part=part, as_of=FEB_END, limit=500)
        assert codes == [i["code"] for i in api["items"]] and len(codes) == api["total"]
        assert str(api["total"]) in total
    assert _drill_codes(page, systems.locator("[data-testid=numerator]"))[0] == ["A1", "A2", "C1", "C2"]

    lz = page.locator("[data-testid=unit-rank-row][data-key=LZ]")
    codes, _ = _drill_codes(page, lz.locator("[data-testid=rank-fig]").first)
    api = _api(server, "/api/v1/rates/systems_migrated/items", part="denominator", unit="LZ", as_of=FEB_END)
    assert codes == [i["code"] for i in api["items"]] == ["D1", "D2"]

    report_row = page.locator("[data-testid=report-row][data-month='2024-01']")
    assert report_row.count() == 1
    with page.expect_download() as got:
        report_row.locator("button", has_text="XLSX").click()
    downloaded = Path(got.value.path()).read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == published.json()["xlsx_sha256"]

    page.locator("#drill-close").click()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 20_000
    page.close()


def test_a_bad_token_shows_an_error_and_signs_out(server: Server, browser: Any) -> None:
    page = browser.new_page()
    page.goto(server.url + "/office")
    page.fill("#token", "yw_not-a-real-token")
    page.click("#login button[type=submit]")
    page.wait_for_selector("#error:has-text('401')")  # not a string predicate: the page's CSP forbids eval
    assert page.is_hidden("#app")
    assert page.evaluate("sessionStorage.getItem('yunwang.office.token')") is None
    page.close()
