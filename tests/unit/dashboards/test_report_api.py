"""Reports API and CLI: who may publish, frozen downloads, drafts, rankings, and the office page's HTML."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from core.db import Database
from core.enums import Role
from tests import report_inventory
from tests.builders import Inv


@pytest.fixture
def ids(db: Database) -> dict[str, int]:
    with db.session() as s:
        return report_inventory.build(s)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _systems_cell(content: bytes) -> tuple[int, int]:
    ws = load_workbook(io.BytesIO(content))["总体情况"]
    return ws["C4"].value, ws["D4"].value


@pytest.mark.parametrize("role", [Role.DEPARTMENT_USER, Role.SUB_CLOUD_CHIEF, Role.AUDITOR, Role.NETWORK_ADMIN])
def test_only_admin_and_the_office_may_publish(
    client: TestClient, token_for: Callable[..., str], ids: dict[str, int], role: Role
) -> None:
    token = token_for(role, ids["RA"] if role in (Role.DEPARTMENT_USER, Role.SUB_CLOUD_CHIEF) else None)
    r = client.post("/api/v1/reports/2024-02/publish", headers=_auth(token))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/reports", headers=_auth(token)).json()["total"] == 0


def test_publish_then_download_is_frozen_and_second_publish_is_409(
    client: TestClient, token_for: Callable[..., str], ids: dict[str, int], db: Database
) -> None:
    office = _auth(token_for(Role.CLOUD_CHIEF_OFFICE, name="office-zhang"))
    r = client.post("/api/v1/reports/2024-02/publish", headers=office)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["month"] == "2024-02" and body["published_by"] == "office-zhang"
    assert body["as_of"] == "2024-02-29T23:59:59.999999+08:00"
    assert client.post("/api/v1/reports/2024-02/publish", headers=office).status_code == 409

    first = client.get("/api/v1/reports/2024-02.xlsx", headers=office)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert hashlib.sha256(first.content).hexdigest() == body["xlsx_sha256"] == first.headers["x-content-sha256"]
    with db.session() as s:  # the inventory moves on, back-dated into February
        Inv(s).set(
            "systems",
            ids["B1"],
            at=datetime(2024, 2, 20, tzinfo=UTC),
            status="migrated",
            hosting="gov_cloud",
            cloud_id=ids["CLOUD"],
        )
    reader = _auth(token_for(Role.DEPARTMENT_USER, ids["LZ"]))
    again = client.get("/api/v1/reports/2024-02.xlsx", headers=reader)
    assert hashlib.sha256(again.content).hexdigest() == body["xlsx_sha256"]
    assert _systems_cell(again.content) == (4, 7)
    draft = client.get("/api/v1/reports/2024-02.xlsx?draft=1", headers=office)
    assert draft.headers["x-report-status"] == "draft"
    assert _systems_cell(draft.content) == (5, 7)
    html = client.get("/api/v1/reports/2024-02.html", headers=office)
    assert html.headers["content-type"].startswith("text/html")
    assert hashlib.sha256(html.content).hexdigest() == body["html_sha256"]
    listed = client.get("/api/v1/reports", headers=reader).json()
    assert [i["month"] for i in listed["items"]] == ["2024-02"]
    changes = client.get("/api/v1/inventory/changes?kind=reports", headers=office).json()
    assert changes["items"][0]["action"] == "decide" and changes["items"][0]["actor"] == "office-zhang"


def test_unpublished_month_is_404_and_drafts_need_a_global_reader(
    client: TestClient, token_for: Callable[..., str], ids: dict[str, int]
) -> None:
    auditor = _auth(token_for(Role.AUDITOR))
    assert client.get("/api/v1/reports/2024-01.xlsx", headers=auditor).status_code == 404
    assert client.get("/api/v1/reports/2024-01.html?draft=1", headers=auditor).status_code == 200
    dept = _auth(token_for(Role.DEPARTMENT_USER, ids["RB"]))
    assert client.get("/api/v1/reports/2024-01.xlsx?draft=1", headers=dept).status_code == 403
    assert client.get("/api/v1/reports/2024-13.xlsx?draft=1", headers=auditor).status_code == 422
    for month in ("0000-01", "9999-12"):  # years date arithmetic cannot hold: 422, never a 500
        assert client.get(f"/api/v1/reports/{month}.html?draft=1", headers=auditor).status_code == 422
        office = _auth(token_for(Role.CLOUD_CHIEF_OFFICE))
        assert client.post(f"/api/v1/reports/{month}/publish", headers=office).status_code == 422
    assert client.get("/api/v1/reports").status_code == 401


def test_rankings_match_the_report_and_scoped_roles_see_own_units(
    client: TestClient, token_for: Callable[..., str], ids: dict[str, int]
) -> None:
    office = _auth(token_for(Role.CLOUD_CHIEF_OFFICE))
    as_of = "2024-02-29T23:59:59.999999+08:00"
    got = client.get("/api/v1/reports/rankings", params={"as_of": as_of}, headers=office).json()
    assert [(u["rank"], u["key"], u["score"]) for u in got["units"]] == [
        (1, "NN", 1.0),
        (1, "RA", 1.0),
        (3, "LZ", 0.25),
        (4, "RB", 0.0),
    ]
    assert [c["key"] for c in got["cities"]] == ["450100", "450000", "450200"]
    assert got["units"][2]["rates"]["systems_migrated"] == {
        "numerator": 0,
        "denominator": 2,
        "ratio": 0.0,
        "target": 1.0,
    }
    dept = _auth(token_for(Role.DEPARTMENT_USER, ids["LZ"]))
    own = client.get("/api/v1/reports/rankings", params={"as_of": as_of}, headers=dept).json()
    assert [u["key"] for u in own["units"]] == ["LZ"]


def test_office_page_html_has_no_data_and_no_secrets(
    client: TestClient, token_for: Callable[..., str], ids: dict[str, int]
) -> None:
    token = token_for(Role.ADMIN)
    page = client.get("/office")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "云长制办公室" in html and "Cloud-chief office" in html
    for leaked in (token, "yw_", "南宁", "自治区甲厅", "http://", "https://"):
        assert leaked not in html.replace('placeholder="yw_…"', "")
    js = client.get("/office/static/office.js")
    assert js.status_code == 200 and "Authorization" in js.text and "sessionStorage" in js.text
    assert "https://" not in js.text
    assert client.get("/office/static/office.css").status_code == 200


def test_cli_preview_publish_download(
    db: Database, ids: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.app.cli import app

    monkeypatch.setenv("YUNWANG_DATABASE_URL", db.url)
    monkeypatch.setenv("YUNWANG_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    draft = tmp_path / "draft.xlsx"
    r = runner.invoke(app, ["report", "preview", "--month", "2024-02", "--out", str(draft)])
    assert r.exit_code == 0, r.output
    assert _systems_cell(draft.read_bytes()) == (4, 7)
    r = runner.invoke(app, ["report", "download", "--month", "2024-02", "--out", str(tmp_path / "x.xlsx")])
    assert r.exit_code == 2 and "not published" in r.output
    r = runner.invoke(app, ["report", "publish", "--month", "2024-02", "--actor", "cli-office"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["report", "publish", "--month", "2024-02"])
    assert r.exit_code == 2 and "already published" in r.output
    out = tmp_path / "published.html"
    r = runner.invoke(app, ["report", "download", "--month", "2024-02", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert hashlib.sha256(out.read_bytes()).hexdigest() in r.output.replace("\n", "")
    assert "cli-office" in out.read_text()


def test_rankings_list_too_few_items_apart_and_mark_ties(
    client: TestClient, token_for: Callable[..., str], ids: dict[str, int]
) -> None:
    office = _auth(token_for(Role.CLOUD_CHIEF_OFFICE))
    as_of = "2024-02-29T23:59:59.999999+08:00"
    got = client.get("/api/v1/reports/rankings", params={"as_of": as_of}, headers=office).json()
    assert got["min_items"] == 3 and "样本过少" in got["rule"]
    # NN and RA share rank 1; RB counts systems 0/1, access 0/1, utilisation 0/1 = 3 items: ranked at 3 …
    assert [(u["rank"], u["key"], u["tied"], u["too_few"]) for u in got["units"]] == [
        (1, "NN", 2, False),
        (1, "RA", 2, False),
        (3, "LZ", 1, False),
        (4, "RB", 1, False),
    ]
    assert got["units"][0]["note"] == "并列第1名，共2个 / tied for rank 1 with 1 others"
    assert (got["units"][3]["items"], got["units"][3]["note"]) == (3, None)
    # … and listed apart, unranked, once the minimum is 4.
    four = client.get("/api/v1/reports/rankings", params={"as_of": as_of, "min_items": 4}, headers=office).json()
    assert [(u["rank"], u["key"], u["too_few"]) for u in four["units"]][2:] == [(3, "LZ", False), (None, "RB", True)]
    assert four["units"][3]["note"] == "样本过少，不参与排名 / too few items to rank（3 < 4）"
    bad = client.get("/api/v1/reports/rankings", params={"min_items": 0}, headers=office)
    assert bad.status_code == 422
