"""The console's inventory pages in Debian's Chromium against a real yunwang holding the demo inventory: browse,
search and filter a kind, an object's page and history, edit (errors at their field, the change in the history),
create with a reference, delete behind a confirmation, what a read-only role sees, and the import wizard with a
department's workbook (title rows, Chinese headers, 18-digit codes) — first with one bad row, then applied."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from inventory.demo import generator as demo
from orchestrator.app import schema as dbschema
from tests.integration.web.conftest import Server
from tests.integration.web.test_console import unlabelled_controls
from tests.live_server import LiveServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = ROOT / "var" / "test" / "screenshots"
TIMINGS: dict[str, float] = {}
INV = "/api/v1/inventory"
# Long numeric system codes as a department writes them (kept as text: Excel keeps only 15 digits of a number).
NEW_CODES = ("450000202400000101", "450000202400000102", "450000202400000103")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """`yunwang serve` on SQLite with the demo inventory (scale 1), tokens for the office and an auditor."""
    work = tmp_path_factory.mktemp("inventory-console")
    url = f"sqlite:///{work / 'yunwang.db'}"
    dbschema.upgrade(url)
    db = Database(url)
    with db.session() as s:
        demo.load_demo(s, ChangeContext(actor="demo-loader", role="admin"), scale=1.0, seed=demo.DEFAULT_SEED)
        s.commit()
    with db.session() as s:
        tokens = {
            "office": create_token(s, "office-inventory-test", Role.CLOUD_CHIEF_OFFICE),
            "auditor": create_token(s, "auditor-inventory-test", Role.AUDITOR),
        }
    db.dispose()
    live = LiveServer.start(url, work, env={"YUNWANG_LOG_LEVEL": "WARNING"}, timeout=180)  # the machine is shared
    try:
        yield Server(live.url, tokens["office"], {}), tokens
    finally:
        live.stop()
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        (ARTEFACTS / "inventory-timings.json").write_text(json.dumps(TIMINGS, indent=2, ensure_ascii=False))


def _api(server: Server, token: str, path: str, **params: Any) -> Any:
    resp = httpx.get(server.url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _signed_in(browser: Any, server: Server, token: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-loaded=signed-out]")
    page.click("text=使用 API 令牌")
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("body[data-loaded=home]")
    return page


def _open(page: Any, server: Server, hash_path: str, name: str) -> None:
    """Go to a console view and wait until it rendered; the time it took is kept as an artefact."""
    started = time.monotonic()
    page.goto(f"{server.url}/#/{hash_path}")
    page.wait_for_selector(f"body[data-loaded='{hash_path.split('?')[0]}']")
    TIMINGS[name] = round(time.monotonic() - started, 3)
    assert TIMINGS[name] < 3, TIMINGS  # generous: the figures are reported, not a tight bound


def _shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"inventory-{name}.png"), full_page=True)


def test_browse_search_filter_and_an_objects_history(demo_server: tuple[Server, dict[str, str]], browser: Any) -> None:
    server, tokens = demo_server
    page = _signed_in(browser, server, tokens["office"])
    _open(page, server, "inventory", "kinds")
    # the demo at scale 1 holds 3000 systems and 802 units (inventory/demo/generator.py)
    assert page.inner_text("[data-testid=inv-kind-systems] .big") == "3000"
    assert page.inner_text("[data-testid=inv-kind-units] .big") == "802"
    assert page.inner_text("[data-testid=inv-kind-systems]").startswith("信息系统")
    assert unlabelled_controls(page) == []
    _shot(page, "kinds")

    page.click("[data-testid=inv-kind-systems]")
    page.wait_for_selector("body[data-loaded='inventory/systems']")
    assert "共 3000 条" in page.inner_text("[data-testid=inv-total]")
    assert page.locator("[data-testid=inv-row]").count() == 50
    assert unlabelled_controls(page) == []
    page.click("[data-testid=inv-next]")
    page.wait_for_selector("[data-testid=inv-total]:has-text('第 51–100 条')")

    migrated = _api(server, tokens["office"], f"{INV}/systems", status="migrated", limit=1)["total"]
    page.select_option("[data-testid=inv-filter-status]", "migrated")
    page.click("[data-testid=inv-search]")
    page.wait_for_selector(f"[data-testid=inv-total]:has-text('共 {migrated} 条')")
    assert migrated > 0
    statuses = page.locator("[data-testid=inv-row] td:nth-child(4)").all_inner_texts()
    assert statuses and all(s == "已迁移 migrated" for s in statuses)

    target = _api(server, tokens["office"], f"{INV}/systems", limit=1, offset=7)["items"][0]
    _open(page, server, "inventory/systems", "systems-list")
    page.fill("[data-testid=inv-q]", target["code"])
    page.press("[data-testid=inv-q]", "Enter")
    page.wait_for_selector("[data-testid=inv-total]:has-text('共 1 条')")
    owner = _api(server, tokens["office"], f"{INV}/units/{target['owner_unit_id']}")
    row = page.locator("[data-testid=inv-row]")
    assert row.locator("td").nth(2).inner_text() == owner["code"]  # the reference shown by its code
    _shot(page, "list-search")

    page.fill("[data-testid=inv-q]", "")
    page.fill("[data-testid=inv-filter-owner_unit_id]", owner["code"])  # a reference filter takes the code
    page.click("[data-testid=inv-search]")
    owned = _api(server, tokens["office"], f"{INV}/systems", owner_unit_id=owner["id"], limit=1)["total"]
    page.wait_for_selector(
        f"body[data-loaded='inventory/systems']:has([data-testid=inv-total]:has-text('共 {owned} 条'))"
    )
    assert owned >= 1
    assert page.input_value("[data-testid=inv-filter-owner_unit_id]") == owner["code"]
    owners = page.locator("[data-testid=inv-row] td:nth-child(3)").all_inner_texts()
    assert owners and set(owners) == {owner["code"]}
    page.fill("[data-testid=inv-filter-owner_unit_id]", "NO-SUCH-UNIT")
    page.click("[data-testid=inv-search]")
    page.wait_for_selector("#error:has-text('未找到编码')")
    page.fill("[data-testid=inv-filter-owner_unit_id]", "")
    page.fill("[data-testid=inv-q]", target["code"])
    page.click("[data-testid=inv-search]")
    page.wait_for_selector("[data-testid=inv-total]:has-text('共 1 条')")
    row.locator(f"a:has-text('{target['code']}')").click()
    page.wait_for_selector(f"body[data-loaded='inventory/systems/{target['id']}']")
    assert page.inner_text("[data-testid=inv-object-code]") == target["code"]
    owner_link = page.locator("tr[data-field=owner_unit_id] a")
    assert owner_link.inner_text() == owner["code"]
    assert owner_link.get_attribute("href") == f"#/inventory/units/{owner['id']}"
    history = _api(server, tokens["office"], f"{INV}/systems/{target['id']}/changes")
    assert page.locator("[data-testid=inv-history-row]").count() == history["total"] >= 1
    assert "demo-loader" in page.inner_text("[data-testid=inv-history-row] >> nth=0")
    _open(page, server, f"inventory/systems/{target['id']}", "system-object")
    _shot(page, "object")

    owner_link.click()
    page.wait_for_selector(f"body[data-loaded='inventory/units/{owner['id']}']")
    assert page.inner_text("[data-testid=inv-object-code]") == owner["code"]
    page.close()


def test_edit_errors_at_the_field_then_the_change_in_the_history(
    demo_server: tuple[Server, dict[str, str]], browser: Any
) -> None:
    server, tokens = demo_server
    target = _api(server, tokens["office"], f"{INV}/systems", classified="false", limit=1, offset=3)["items"][0]
    before = target["vcpus"]
    page = _signed_in(browser, server, tokens["office"])
    _open(page, server, f"inventory/systems/{target['id']}/edit", "system-edit")
    assert unlabelled_controls(page) == []
    assert page.input_value("[data-testid=inv-input-code]") == target["code"]

    page.fill("[data-testid=inv-input-vcpus]", "-1")
    page.click("[data-testid=inv-save]")
    page.wait_for_selector("#inv-f-vcpus[aria-invalid=true]")
    assert "应大于或等于 0" in page.inner_text("[data-error-for=vcpus]")
    assert _api(server, tokens["office"], f"{INV}/systems/{target['id']}")["vcpus"] == before  # nothing written
    _shot(page, "edit-error")

    new = (before or 0) + 7
    page.fill("[data-testid=inv-input-vcpus]", str(new))
    page.fill("[data-testid=inv-message]", "控制台扩容 / console resize")
    page.click("[data-testid=inv-save]")
    page.wait_for_selector(f"body[data-loaded='inventory/systems/{target['id']}']")
    assert _api(server, tokens["office"], f"{INV}/systems/{target['id']}")["vcpus"] == new
    latest = page.locator("[data-testid=inv-history-row] >> nth=0")
    assert "office-inventory-test" in latest.inner_text()
    assert "修改 updated" in latest.inner_text()
    assert latest.locator("li[data-field=vcpus] del").inner_text() == ("—" if before is None else str(before))
    assert latest.locator("li[data-field=vcpus] ins").inner_text() == str(new)
    assert "控制台扩容" in latest.inner_text()
    assert latest.locator("li").count() == 1  # only vcpus changed
    _shot(page, "history")
    page.close()


def test_create_with_a_reference_and_delete_behind_a_confirmation(
    demo_server: tuple[Server, dict[str, str]], browser: Any
) -> None:
    server, tokens = demo_server
    unit = _api(server, tokens["office"], f"{INV}/units", code=demo.DEPARTMENT_USER_UNIT)["items"][0]
    page = _signed_in(browser, server, tokens["office"])
    _open(page, server, "inventory/systems/new", "system-new")
    page.fill("[data-testid=inv-input-code]", "CONSOLE-NEW-1")
    page.fill("[data-testid=inv-input-name]", "控制台新建系统")
    page.fill("[data-testid=inv-input-owner_unit_id]", "NO-SUCH-UNIT")
    page.select_option("[data-testid=inv-input-hosting]", "other")
    page.fill("[data-testid=inv-input-last_access_at]", "2024-05-06")
    page.fill("[data-testid=inv-input-status_changed_at]", "2024-05-06T09:30:00")  # Beijing time
    page.click("[data-testid=inv-save]")
    page.wait_for_selector("#inv-f-owner_unit_id[aria-invalid=true]")
    assert "未找到编码" in page.inner_text("[data-error-for=owner_unit_id]")
    assert _api(server, tokens["office"], f"{INV}/systems", code="CONSOLE-NEW-1")["total"] == 0

    page.fill("[data-testid=inv-input-owner_unit_id]", unit["code"])
    page.click("[data-testid=inv-save]")
    page.wait_for_selector("[data-testid=inv-object-code]:has-text('CONSOLE-NEW-1')")
    made = _api(server, tokens["office"], f"{INV}/systems", code="CONSOLE-NEW-1")["items"]
    assert len(made) == 1 and made[0]["owner_unit_id"] == unit["id"] and made[0]["hosting"] == "other"
    assert made[0]["last_access_at"] == "2024-05-06"
    assert made[0]["status_changed_at"] == "2024-05-06T01:30:00+00:00"  # 09:30 Beijing = 01:30 UTC
    assert page.inner_text("tr[data-field=status_changed_at] td") == "2024/05/06 09:30:00"
    assert page.locator("tr[data-field=owner_unit_id] a").inner_text() == unit["code"]

    page.click("[data-testid=inv-delete]")
    page.wait_for_selector("[data-testid=inv-delete-dialog][open]")
    page.keyboard.press("Escape")  # cancelled: still there
    page.wait_for_selector("[data-testid=inv-delete-dialog]", state="hidden")
    assert _api(server, tokens["office"], f"{INV}/systems", code="CONSOLE-NEW-1")["total"] == 1
    page.click("[data-testid=inv-delete]")
    _shot(page, "delete-confirm")
    page.click("[data-testid=inv-delete-confirm]")
    page.wait_for_selector("body[data-loaded='inventory/systems']")
    assert _api(server, tokens["office"], f"{INV}/systems", code="CONSOLE-NEW-1")["total"] == 0
    page.close()


def test_a_read_only_role_sees_no_write_controls_and_the_api_refuses(
    demo_server: tuple[Server, dict[str, str]], browser: Any
) -> None:
    server, tokens = demo_server
    target = _api(server, tokens["auditor"], f"{INV}/systems", limit=1)["items"][0]
    page = _signed_in(browser, server, tokens["auditor"])
    assert page.locator("#nav a:has-text('清单 Inventory')").count() == 1
    assert page.locator("#nav a:has-text('导入 Import')").count() == 0
    _open(page, server, "inventory/systems", "systems-list-auditor")
    assert page.locator("[data-testid=inv-new]").count() == 0
    assert page.locator("[data-testid=inv-export-xlsx]").count() == 1  # exports are for every reader
    _open(page, server, f"inventory/systems/{target['id']}", "system-object-auditor")
    assert page.locator("[data-testid=inv-edit]").count() == 0
    assert page.locator("[data-testid=inv-delete]").count() == 0
    resp = httpx.patch(
        f"{server.url}{INV}/systems/{target['id']}",
        json={"vcpus": 99},
        headers={"Authorization": f"Bearer {tokens['auditor']}"},
        timeout=30,
    )
    assert resp.status_code == 403
    page.close()


def _department_workbook(rows: list[list[Any]]) -> bytes:
    """A workbook as departments send them: a title row, a note row, Chinese headers, then the rows."""
    wb = Workbook()
    ws = wb.active
    ws.title = "信息系统清查"
    ws.append(["自治区某厅信息系统清查表（2024年）"])
    ws.append(["填表说明：系统编码为18位数字，请按文本填写。"])
    ws.append(["系统编码", "系统名称", "所属单位编码", "迁移状态", "部署方式", "vCPU数", "内存(GB)"])
    for r in rows:
        ws.append(r)
    for row in ws.iter_rows(min_row=4):
        if isinstance(row[0].value, str):
            row[0].number_format = "@"  # the code column typed as text, as a careful department does
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_import_wizard_bad_row_blocks_then_a_good_file_applies(
    demo_server: tuple[Server, dict[str, str]], browser: Any, tmp_path: Path
) -> None:
    server, tokens = demo_server
    token = tokens["office"]
    unit = _api(server, token, f"{INV}/units", code=demo.DEPARTMENT_USER_UNIT)["items"][0]
    old = _api(server, token, f"{INV}/systems", owner_unit_id=unit["id"], classified="false", limit=1)["items"][0]
    old_vcpus = old["vcpus"]
    new_vcpus = (old_vcpus or 0) + 5
    existing = [old["code"], old["name"], unit["code"], old["status"], old["hosting"], new_vcpus, old["memory_gb"]]
    good = [
        [NEW_CODES[0], "政务服务事项管理系统", unit["code"], "未迁移", "其他", 8, 16],
        [NEW_CODES[1], "财政一体化平台", unit["code"], "未上云", "其他", 16, 32],
        [NEW_CODES[2], "公文交换系统", unit["code"], "未迁移", "其他", 4, 8],
        existing,
    ]
    bad = [list(r) for r in good]
    bad[1][0] = float(NEW_CODES[1])  # the long code typed as a number: Excel rounds it to 15 digits
    (tmp_path / "bad.xlsx").write_bytes(_department_workbook(bad))
    (tmp_path / "good.xlsx").write_bytes(_department_workbook(good))

    page = _signed_in(browser, server, token)
    _open(page, server, "import", "import-wizard")
    assert unlabelled_controls(page) == []
    page.select_option("[data-testid=inv-import-kind]", "systems")
    page.set_input_files("[data-testid=inv-import-file]", str(tmp_path / "bad.xlsx"))
    page.click("[data-testid=inv-dry-run]")
    page.wait_for_selector("[data-testid=inv-diff]")
    # the file's data rows are rows 4-7; the second (row 5) has the code Excel rounded
    assert "错误 error 1" in page.inner_text("[data-testid=inv-import-counts]")
    bad_row = page.locator("[data-testid=inv-diff-row][data-row='5']")
    assert bad_row.get_attribute("class") == "inv-row-error"
    cell = bad_row.locator("td[data-field=code]")
    assert cell.get_attribute("data-error") == "true"
    assert "超过 15 位" in cell.inner_text()
    errors = page.locator("[data-testid=inv-diff] td[data-error=true]")
    assert errors.count() == 1
    assert page.locator("[data-testid=inv-diff-row].inv-row-error").count() == 1
    assert page.is_disabled("[data-testid=inv-apply]")
    assert "不能应用" in page.inner_text("[data-testid=inv-apply-hint]")
    assert unlabelled_controls(page) == []
    _shot(page, "import-bad")
    for code in NEW_CODES:  # nothing written
        assert _api(server, token, f"{INV}/systems", code=code)["total"] == 0
    assert _api(server, token, f"{INV}/systems/{old['id']}")["vcpus"] == old_vcpus

    # the good file, operated by keyboard from the file input on: Tab to the dry run, Enter; Tab to Apply, Enter
    page.set_input_files("[data-testid=inv-import-file]", str(tmp_path / "good.xlsx"))
    page.focus("[data-testid=inv-import-file]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testid") == "inv-import-message"
    page.keyboard.type("2024年清查")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testid") == "inv-dry-run"
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=inv-diff]")
    assert page.evaluate("document.activeElement.id") == "inv-import-result"  # focus moved to the result
    counts = page.inner_text("[data-testid=inv-import-counts]")
    assert "新建 create 3 · 更新 update 1 · 不变 unchanged 0 · 错误 error 0" in counts
    assert page.locator("[data-testid=inv-diff] td[data-error=true]").count() == 0
    upd = page.locator("[data-testid=inv-diff-row][data-row='7'] td[data-field=vcpus]")
    assert upd.inner_text().replace("\n", "") == (str(new_vcpus) if old_vcpus is None else f"{old_vcpus} → {new_vcpus}")
    assert page.locator("[data-testid=inv-diff-row][data-row='4'] td").nth(0).inner_text() == NEW_CODES[0]
    assert _api(server, token, f"{INV}/systems", code=NEW_CODES[0])["total"] == 0  # a dry run writes nothing
    _shot(page, "import-good")
    for _ in range(20):
        if page.evaluate("document.activeElement.dataset.testid") == "inv-apply":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testid") == "inv-apply"
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=inv-import-applied]")
    assert "新建 create 3 · 更新 update 1" in page.inner_text("[data-testid=inv-import-applied]")
    _shot(page, "import-applied")

    made = _api(server, token, f"{INV}/systems", code__in=",".join(NEW_CODES), sort="code")["items"]
    assert [s["code"] for s in made] == list(NEW_CODES)  # all 18 digits kept
    assert [s["vcpus"] for s in made] == [8, 16, 4]
    assert {s["owner_unit_id"] for s in made} == {unit["id"]}
    assert {s["status"] for s in made} == {"not_migrated"}
    assert _api(server, token, f"{INV}/systems/{old['id']}")["vcpus"] == new_vcpus
    changes = _api(server, token, f"{INV}/systems/{made[0]['id']}/changes")["items"]
    mine = [c for c in changes if c["object_code"] == NEW_CODES[0]]
    assert [(c["action"], c["actor"], c["message"]) for c in mine] == [
        ("create", "office-inventory-test", "2024年清查")
    ], changes
    _open(page, server, f"inventory/systems/{made[0]['id']}", "imported-object")
    assert page.locator("[data-testid=inv-history-row]").count() == 1  # its own entry only, even on a reused id
    assert "2024年清查" in page.inner_text("[data-testid=inv-history-row]")
    page.close()


def test_export_and_template_download(demo_server: tuple[Server, dict[str, str]], browser: Any, tmp_path: Path) -> None:
    server, tokens = demo_server
    page = browser.new_page(accept_downloads=True, locale="zh-CN")
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-loaded=signed-out]")
    page.click("text=使用 API 令牌")
    page.fill("#token", tokens["office"])
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("body[data-loaded=home]")
    _open(page, server, "inventory/clouds", "clouds-list")
    with page.expect_download() as info:
        page.click("[data-testid=inv-export-csv]")
    download = info.value
    assert download.suggested_filename.startswith("clouds-") and download.suggested_filename.endswith(".csv")
    target = tmp_path / "clouds.csv"
    download.save_as(target)
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("云编码,云名称")
    assert len(lines) == 1 + 11  # the demo's 11 clouds
    with page.expect_download() as info:
        page.click("[data-testid=inv-template]")
    assert info.value.suggested_filename == "clouds-template.xlsx"
    page.close()


def test_import_wizard_follows_the_job_of_a_file_over_one_mebibyte(
    demo_server: tuple[Server, dict[str, str]], browser: Any, tmp_path: Path
) -> None:
    # a file over 1 MiB is imported by a background job (202 + job): the wizard follows it and shows its report
    server, tokens = demo_server
    token = tokens["office"]
    unit = _api(server, token, f"{INV}/units", code=demo.DEPARTMENT_USER_UNIT)["items"][0]
    lines = ["系统编码,系统名称,所属单位编码,迁移状态,部署方式,vCPU数,内存(GB)"]
    rows = 8000  # 139 bytes each: 1.1 MB
    lines += [
        f"4500002025{n:08d},政务服务事项管理与办件统计分析系统（第{n:04d}号业务子系统）,{unit['code']},未迁移,其他,4,8"
        for n in range(rows)
    ]
    big = tmp_path / "big.csv"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert big.stat().st_size > 1024 * 1024
    page = _signed_in(browser, server, token)
    _open(page, server, "import", "import-wizard")
    page.select_option("[data-testid=inv-import-kind]", "systems")
    page.set_input_files("[data-testid=inv-import-file]", str(big))
    page.click("[data-testid=inv-dry-run]")
    page.wait_for_selector("[data-testid=inv-import-counts]", timeout=120_000)
    assert "新建 create 8000 · 更新 update 0 · 不变 unchanged 0 · 错误 error 0" in page.inner_text(
        "[data-testid=inv-import-counts]"
    )
    assert page.is_enabled("[data-testid=inv-apply]")
    jobs = _api(server, token, "/api/v1/tasks")["items"]  # newest first
    assert [j["status"] for j in jobs if j["name"] == "inventory.import"][:1] == ["succeeded"]
    assert _api(server, token, f"{INV}/systems", code="450000202500000000")["total"] == 0  # a dry run writes nothing
    page.close()
