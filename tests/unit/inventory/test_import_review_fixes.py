"""Import fidelity, second pass: defects a reviewer found in the first one, each with the exact per-row report.

1. A workbook saved with the 1904 date system (old Mac Excel): serial numbers in date columns count from
   1904-01-01, as openpyxl already does for date-formatted cells.
2. The template's 说明 Notes sheet shows enum values as `migrated（已迁移）`; that exact text is accepted.
3. Pydantic's messages (a negative vCPU, a too long name) are Chinese first and name the column's header.
4. A reference code with a non-breaking space gets the same notice as the code column.
5. An 18-digit float in a reference column gives one problem (the refusal), not a spurious `required` too.
"""

from __future__ import annotations

import io as stdio
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import Workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.db import Database
from inventory.enums import Hosting, SystemStatus
from inventory.io import cells, exporting
from inventory.io import importing as io
from inventory.io.spreadsheets import read_table
from inventory.models import InformationSystem
from tests.builders import Inv
from tests.unit.inventory.test_import_fidelity import _counts

CTX = ChangeContext(actor="importer", role="admin", message="review fixes")
NBSP = "\u00a0"
HEAD = ["系统编码", "系统名称", "所属单位编码", "部署方式", "所在机房编码", "最近访问日期", "最近运维日期", "vCPU数"]


def _skeleton(s: Session) -> None:
    inv = Inv(s)
    region = inv.region("region", code="450000", name="广西壮族自治区")
    unit = inv.unit(region, "region", code="UK11", name="自治区大数据发展局")
    room = inv.room(unit, region, code="ROOM-1")
    inv.cloud(region, code="GOVCLOUD")
    inv.system(unit, room_id=room, code="SYS-OLD", name="已有系统")


def _xlsx(rows: list[list[Any]], head: list[str] = HEAD, mac: bool = False) -> bytes:
    wb = Workbook()
    if mac:
        wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    assert ws is not None
    ws.append(head)
    for row in rows:
        ws.append(row)
    out = stdio.BytesIO()
    wb.save(out)
    return out.getvalue()


def _row(report: io.ImportReport, number: int) -> io.RowResult:
    return next(r for r in report.rows if r.row == number)


def _problems(report: io.ImportReport, number: int) -> list[tuple[str | None, str]]:
    return [(p.field, p.message) for p in _row(report, number).problems]


def _notices(report: io.ImportReport, number: int) -> list[tuple[str | None, str]]:
    return [(p.field, p.message) for p in _row(report, number).notices]


def _refused_and_nothing_written(db: Database, data: bytes) -> io.ImportReport:
    with db.session() as s:
        before = _counts(s)
    with db.session() as s:
        applied = io.apply_import(s, "systems", read_table(data, "f.xlsx"), CTX)
        assert not applied.applied and not applied.ok
        s.commit()
    with db.session() as s:
        assert _counts(s) == before
    return applied


# --- 1. the 1904 date system -------------------------------------------------------------------------


def test_1904_workbook_serials_count_from_1904(any_db: Database) -> None:
    with any_db.session() as s:
        _skeleton(s)
        s.commit()
    # 43834 days after 1904-01-01 is 2024-01-05 (in the 1900 system the same number is 2020-01-04);
    # the date cell is stored by openpyxl as a 1904 serial too, and read back through the workbook's epoch.
    data = _xlsx([["M1", "苹果表", "UK11", "机房", "ROOM-1", 43834, date(2024, 1, 5)]], mac=True)
    with zipfile.ZipFile(stdio.BytesIO(data)) as zf:
        assert 'date1904="1"' in zf.read("xl/workbook.xml").decode()
    table = read_table(data, "mac.xlsx")
    assert table.epoch == date(1904, 1, 1)
    with any_db.session() as s:
        report = io.apply_import(s, "systems", table, CTX)
        assert report.ok and report.applied, report.all_problems()
        assert _row(report, 2).changes["last_access_at"] == ("", "2024-01-05")
        assert _row(report, 2).changes["last_maintenance_at"] == ("", "2024-01-05")
        s.commit()
    with any_db.session() as s:
        m1 = s.scalars(select(InformationSystem).where(InformationSystem.code == "M1")).one()
        assert (m1.last_access_at, m1.last_maintenance_at) == (date(2024, 1, 5), date(2024, 1, 5))


def test_1900_workbook_serials_are_unchanged() -> None:
    table = read_table(_xlsx([["W1", "视窗表", "UK11", "机房", "ROOM-1", 43834]]), "win.xlsx")
    assert table.epoch == date(1899, 12, 30)
    assert cells.read_cell(date, 43834, table.epoch) == date(2020, 1, 4)
    assert cells.read_cell(date, 43834, cells.MAC_EPOCH) == date(2024, 1, 5)
    assert cells.read_cell(datetime, 43834.5, cells.MAC_EPOCH) == datetime.fromisoformat("2024-01-05T04:00:00+00:00")


# --- 2. enum values as the template shows them ----------------------------------------------------------


def test_every_value_the_notes_sheet_shows_is_accepted() -> None:
    shown = [r for r in exporting.notes("systems")[1:] if len(r) > 6 and r[6]]
    assert [r[2] for r in shown] == ["hosting", "status"]
    status = next(r for r in shown if r[2] == "status")[6].split(" | ")
    assert status == ["not_migrated（未迁移）", "in_progress（迁移中）", "migrated（已迁移）", "retired（已下线）"]
    assert [cells.read_cell(SystemStatus, v) for v in status] == ["not_migrated", "in_progress", "migrated", "retired"]
    hosting = next(r for r in shown if r[2] == "hosting")[6].split(" | ")
    assert [cells.read_cell(Hosting, v) for v in hosting] == ["room", "sub_cloud", "gov_cloud", "other"]


@pytest.mark.parametrize("raw", ["migrated（已迁移）", "migrated(已迁移)", "MIGRATED （已迁移）", "migrated（已上云）"])
def test_code_with_label_forms(raw: str) -> None:
    assert cells.read_cell(SystemStatus, raw) == "migrated"


def test_template_form_imports(db: Database) -> None:
    with db.session() as s:
        _skeleton(s)
        s.commit()
    head = ["系统编码", "系统名称", "所属单位编码", "部署方式", "所在云编码", "迁移状态"]
    data = _xlsx([["T1", "模板写法", "UK11", "gov_cloud（政务云）", "GOVCLOUD", "migrated（已迁移）"]], head)
    with db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "t.xlsx"), CTX)
    assert report.ok, report.all_problems()
    assert _row(report, 2).changes["status"] == ("", "migrated")
    assert _row(report, 2).changes["hosting"] == ("", "gov_cloud")


def test_wrong_label_is_refused_listing_the_shown_forms(db: Database) -> None:
    with db.session() as s:
        _skeleton(s)
        s.commit()
    head = ["系统编码", "系统名称", "所属单位编码", "部署方式", "所在机房编码", "迁移状态"]
    data = _xlsx([["T2", "错写", "UK11", "机房", "ROOM-1", "migrated（已下线）"]], head)
    with db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "t.xlsx"), CTX)
    assert _problems(report, 2) == [
        (
            "status",
            "row 2, 迁移状态 (status): 'migrated（已下线）': 应为以下值之一 / expected one of: not_migrated（未迁移）, "
            "in_progress（迁移中）, migrated（已迁移）, retired（已下线）",
        )
    ]
    _refused_and_nothing_written(db, data)


# --- 3. pydantic's messages, Chinese first with the column -----------------------------------------


def test_value_limits_are_chinese_first_and_name_the_column(any_db: Database) -> None:
    with any_db.session() as s:
        _skeleton(s)
        s.commit()
    head = ["系统编码", "系统名称", "所属单位编码", "部署方式", "所在机房编码", "vCPU数", "内存(GB)"]
    rows: list[list[Any]] = [[f"N{i}", "正常", "UK11", "机房", "ROOM-1", 2, 4] for i in range(2, 10)]
    rows.append(["N10", "负数", "UK11", "机房", "ROOM-1", -1, -0.5])  # file row 10
    rows.append(["N11", "超长" * 200, "UK11", "机房", "ROOM-1", 2, 4])  # 400 characters; the column keeps 200
    data = _xlsx(rows, head)
    with any_db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "n.xlsx"), CTX)
    assert _problems(report, 10) == [
        ("vcpus", "第10行「vCPU数」：应大于或等于 0 / row 10 (vcpus): must be ≥ 0"),
        ("memory_gb", "第10行「内存(GB)」：应大于或等于 0 / row 10 (memory_gb): must be ≥ 0"),
    ]
    assert _problems(report, 11) == [
        ("name", "第11行「系统名称」：最多 200 个字符 / row 11 (name): at most 200 characters")
    ]
    assert [r.action for r in report.rows] == ["create"] * 8 + ["error", "error"]
    applied = _refused_and_nothing_written(any_db, data)
    assert _problems(applied, 10) == _problems(report, 10)


# --- 4. reference codes get the normalisation notice -------------------------------------------------


def test_reference_code_with_nbsp_gets_the_notice(any_db: Database) -> None:
    with any_db.session() as s:
        _skeleton(s)
        s.commit()
        before = _counts(s)
    head = ["系统编码", "系统名称", "所属单位编码", "部署方式", "所在机房编码", "依赖系统"]
    data = _xlsx(
        [[f"R1{NBSP}", "空格", f"UK11{NBSP}", "机房", f"ROOM-1{NBSP}", f"SYS-OLD{NBSP}; ＳＹＳ－ＯＬＤ"]], head
    )
    with any_db.session() as s:
        report = io.apply_import(s, "systems", read_table(data, "r.xlsx"), CTX)
        assert report.ok and report.applied, report.all_problems()
        s.commit()
    assert _notices(report, 2) == [
        ("code", "row 2, 系统编码 (code): 编码已规范化 'R1\\xa0' → 'R1' / code normalised"),
        ("owner_unit_id", "row 2, 所属单位编码 (owner_unit): 编码已规范化 'UK11\\xa0' → 'UK11' / code normalised"),
        ("room_id", "row 2, 所在机房编码 (room): 编码已规范化 'ROOM-1\\xa0' → 'ROOM-1' / code normalised"),
        ("depends_on_ids", "row 2, 依赖系统 (depends_on): 编码已规范化 'SYS-OLD\\xa0' → 'SYS-OLD' / code normalised"),
        ("depends_on_ids", "row 2, 依赖系统 (depends_on): 编码已规范化 'ＳＹＳ－ＯＬＤ' → 'SYS-OLD' / code normalised"),
    ]
    assert _row(report, 2).changes["owner_unit_id"] == ("", "UK11")
    assert _row(report, 2).changes["depends_on_ids"] == ("", "SYS-OLD")
    with any_db.session() as s:
        assert _counts(s) == (before[0] + 1, before[1] + 1)


def test_plain_codes_get_no_notice(db: Database) -> None:
    with db.session() as s:
        _skeleton(s)
        s.commit()
    head = ["系统编码", "系统名称", "所属单位编码", "部署方式", "所在机房编码", "依赖系统"]
    data = _xlsx([[450103198001011.0, "数字编码", "UK11", "机房", "ROOM-1", "SYS-OLD"]], head)
    with db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "p.xlsx"), CTX)
    assert report.ok, report.all_problems()
    assert _notices(report, 2) == []


# --- 5. one problem for an unrecoverable reference ------------------------------------------------------


REFUSED_18 = (
    "4.5010319800101101e+17: 数值 4.50103198001011e+17 超过 15 位，Excel 已将其按数字存储并舍入，无法还原；"
    "请将该列设为文本后重新录入 / a number of more than 15 digits stored by Excel cannot be recovered exactly; "
    "enter it as text"
)


def test_eighteen_digit_reference_is_refused_once(any_db: Database) -> None:
    with any_db.session() as s:
        _skeleton(s)
        s.commit()
    head = ["系统编码", "系统名称", "所属单位编码", "部署方式", "所在机房编码"]
    data = _xlsx(
        [
            ["F1", "新建", 4.50103198001011e17, "机房", "ROOM-1"],  # new: owner_unit_id is required
            ["SYS-OLD", "已有系统", 4.50103198001011e17, "机房", "ROOM-1"],  # update: no change to "" either
        ],
        head,
    )
    with any_db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "e.xlsx"), CTX)
    assert _problems(report, 2) == [("owner_unit_id", f"row 2, 所属单位编码 (owner_unit): {REFUSED_18}")]
    assert _problems(report, 3) == [("owner_unit_id", f"row 3, 所属单位编码 (owner_unit): {REFUSED_18}")]
    assert "owner_unit_id" not in _row(report, 2).changes
    assert _row(report, 3).changes == {}  # name and room as stored; the refused cell is no change to ""
    assert [r.action for r in report.rows] == ["error", "error"]
    applied = _refused_and_nothing_written(any_db, data)
    assert _problems(applied, 2) == _problems(report, 2)
