"""Import fidelity: every cell of a messy department workbook is read right, or refused with a reason.

The workbook is built the way departments send them: a title row and notes above a merged two-row header,
blank rows, full-width characters and non-breaking spaces, codes Excel stored as numbers, formulas saved
without a value, dates in several forms and Chinese labels instead of codes.
"""

from __future__ import annotations

import io as stdio
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import ChangeContext
from core.db import Database
from core.models import ChangeLog
from inventory.enums import Hosting, NetworkStatus, SystemStatus
from inventory.io import cells, exporting
from inventory.io import importing as io
from inventory.io.cells import CellError
from inventory.io.spreadsheets import read_table
from inventory.models import InformationSystem
from tests.builders import Inv

CTX = ChangeContext(actor="importer", role="admin", message="fidelity")
NBSP, IDEO = "\u00a0", "\u3000"


def _counts(s: Session) -> tuple[int, int]:
    return (
        s.scalar(select(func.count()).select_from(InformationSystem)) or 0,
        s.scalar(select(func.count()).select_from(ChangeLog)) or 0,
    )


def _skeleton(s: Session) -> None:
    inv = Inv(s)
    region = inv.region("region", code="450000", name="广西壮族自治区")
    unit = inv.unit(region, "region", code="GXDSJ", name="自治区大数据发展局")
    room = inv.room(unit, region, code="ROOM-1")
    cloud = inv.cloud(region, code="GOVCLOUD")
    inv.system(unit, cloud_id=cloud, code="SYS-A", status="migrated", name="已有系统")
    inv.allow("networks", "NET-1")  # the office's 准予新建 determination for the network file
    assert room


HEADER_TOP = [
    "系统编码",
    "系统名称",
    "所属单位编码",
    "是否涉密",
    "部署方式",
    "所在机房编码",
    "所在云编码",
    "迁移状态",
    "状态变更时间",
    "资源配置",  # merged over the three columns below it
    None,
    None,
    "最近访问日期",
    "业务是否在用",
]
HEADER_SUB = [None] * 9 + ["vCPU数", "内存（GB）", "存储（GB）"] + [None, None]


def messy_workbook() -> bytes:
    """Rows 1–3 title, notes, blank; rows 4–5 the merged header; data from row 6 (row 7 and 15 blank)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "信息系统"
    ws.append(["自治区大数据发展局 信息系统清单（2024年）"])
    ws.merge_cells("A1:N1")
    ws.append(["填报说明：编码请填写文本；状态变更时间为北京时间"])
    ws.append([])
    ws.append(HEADER_TOP)
    ws.append(HEADER_SUB)
    for col in "ABCDEFGHIMN":
        ws.merge_cells(f"{col}4:{col}5")
    ws.merge_cells("J4:L4")
    rows: list[list[Any]] = [
        # 6: full-width code, NBSP and ideographic spaces, Chinese labels, ✓, 年月日 and slash dates
        [
            "ＳＹＳ－１０１",
            f"{NBSP}不动产登记系统{IDEO}",
            f"GXDSJ{NBSP}",
            "否",
            "政务云",
            None,
            "ＧＯＶＣＬＯＵＤ",
            "已迁移",
            "2023年3月5日",
            "１６",
            " 32 ",
            "1，024",
            "2024/1/5",
            "✓",
        ],
        [],  # 7: blank
        # 8: a 15-digit code Excel stored as a number, an Excel date cell, a dotted date, √
        [
            450103198001011.0,
            "社保查询",
            "GXDSJ",
            "否",
            "机房",
            "ROOM-1",
            None,
            "未迁移",
            "2024.1.5",
            4,
            8,
            100,
            datetime(2024, 1, 5),
            "√",
        ],
        # 9: an 18-digit code Excel rounded to 15 digits: refused
        [4.50103198001011e17, "户籍", "GXDSJ", "否", "机房", "ROOM-1", None, "未迁移", None, 2, 4, 50, None, "是"],
        # 10: a formula saved without its value: refused, not read as empty
        ["SYS-110", "公积金", "GXDSJ", "否", "机房", "ROOM-1", None, "未迁移", None, "=2*8", 4, 50, None, "是"],
        # 11: a classified system marked migrated (domain rules, reported although other rows have cell errors)
        ["SYS-111", "涉密办公", "GXDSJ", "是", "机房", "ROOM-1", None, "已迁移", None, 2, 4, 50, None, "否"],
        # 12: differs from the stored SYS-A only by case
        ["sys-a", "同名不同写法", "GXDSJ", "否", "机房", "ROOM-1", None, "未迁移", None, 2, 4, 50, None, "是"],
        # 13: differs from row 6's code only by case
        ["sys-101", "重复", "GXDSJ", "否", "机房", "ROOM-1", None, "未迁移", None, 2, 4, 50, None, "是"],
        # 14: an impossible date and an unknown status label
        ["SYS-114", "错误", "GXDSJ", "否", "机房", "ROOM-1", None, "已上天", "2024-13-01", 2, 4, 50, None, "是"],
        [None, NBSP, IDEO],  # 15: only spaces: blank
        # 16: an Excel serial date (45296 = 2024-01-05) and a datetime with 时分
        [
            "SYS-116",
            "电子证照",
            "GXDSJ",
            "否",
            "机房",
            "ROOM-1",
            None,
            "迁移中",
            "2022/12/31 23:30",
            2,
            4,
            50,
            45296,
            "×",
        ],
        # 17: a cell error and, in the cells that could be read, a classified system marked migrated
        ["SYS-117", "涉密档案", "GXDSJ", "是", "机房", "ROOM-1", None, "已迁移", None, "很多", 4, 50, None, "否"],
    ]
    for row in rows:
        ws.append(row)
    out = stdio.BytesIO()
    wb.save(out)
    return out.getvalue()


def _messages(report: io.ImportReport, row: int) -> list[tuple[str | None, str]]:
    found = next(r for r in report.rows if r.row == row)
    return [(p.field, p.message) for p in found.problems]


EXPECTED_ERRORS: dict[int, list[tuple[str | None, str]]] = {
    9: [
        (
            "code",
            "row 9, 系统编码 (code): 4.5010319800101101e+17: 数值 4.50103198001011e+17 超过 15 位，"
            "Excel 已将其按数字存储并舍入，无法还原；请将该列设为文本后重新录入 / a number of more than 15 digits "
            "stored by Excel cannot be recovered exactly; enter it as text",
        )
    ],
    10: [
        (
            "vcpus",
            "row 10, vCPU数 (vcpus): =2*8: 公式 =2*8 没有保存计算结果，请在 Excel 中打开并保存后再导入 / "
            "formula cell without a cached value (open and save the file in Excel first)",
        )
    ],
    11: [
        (
            "status",
            "row 11: 信息系统 SYS-111：涉密系统不得迁移上云 / systems SYS-111: "
            "a classified system can never be migrated to the cloud",
        ),
        (
            "hosting",
            "row 11: 信息系统 SYS-111：已迁移的系统须部署在政务云或子云上 / systems SYS-111: "
            "a migrated system must be hosted on the gov cloud or a sub-cloud",
        ),
    ],
    12: [
        (
            "code",
            "row 12, 系统编码 (code): 编码 'sys-a' 与已有编码 'SYS-A' 仅全半角或大小写不同，不会新建；请使用已有编码 / "
            "code differs from the existing code 'SYS-A' only by width or case; not created as new",
        )
    ],
    13: [
        (
            "code",
            "row 13, 系统编码 (code): 编码 'sys-101' 与第6行的编码 'SYS-101' 仅全半角或大小写不同 / "
            "code differs from row 6's only by width or case",
        )
    ],
    14: [
        (
            "status",
            "row 14, 迁移状态 (status): '已上天': 应为以下值之一 / expected one of: not_migrated（未迁移）, "
            "in_progress（迁移中）, migrated（已迁移）, retired（已下线）",
        ),
        (
            "status_changed_at",
            "row 14, 状态变更时间 (status_changed_at): '2024-13-01': 应为时间，如 2024-01-31 09:30 或 2024年1月31日"
            "（无时区即北京时间） / expected a date-time like 2024-01-31T09:30:00+08:00 (no offset = Beijing time)",
        ),
    ],
    17: [
        ("vcpus", "row 17, vCPU数 (vcpus): '很多': 应为整数 / expected an integer"),
        (
            "status",
            "row 17: 信息系统 SYS-117：涉密系统不得迁移上云 / systems SYS-117: "
            "a classified system can never be migrated to the cloud",
        ),
        (
            "hosting",
            "row 17: 信息系统 SYS-117：已迁移的系统须部署在政务云或子云上 / systems SYS-117: "
            "a migrated system must be hosted on the gov cloud or a sub-cloud",
        ),
    ],
}


def test_messy_workbook_dry_run_reports_every_row_exactly(any_db: Database) -> None:
    with any_db.session() as s:
        _skeleton(s)
        s.commit()
        before = _counts(s)
    data = messy_workbook()
    with any_db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "部门清单.xlsx"), CTX)
    assert report.header_rows == (4, 5)
    assert report.header_note == "第4–5行作为表头（合并表头） / rows 4–5 taken as the header (merged)"
    assert report.problems == []
    # rows 7 and 15 are blank; every other data row has exactly one result
    assert [r.row for r in report.rows] == [6, 8, 9, 10, 11, 12, 13, 14, 16, 17]
    actions = {r.row: r.action for r in report.rows}
    assert actions == {
        6: "create",
        8: "create",
        9: "error",
        10: "error",
        11: "error",
        12: "error",
        13: "error",
        14: "error",
        16: "create",
        17: "error",
    }
    for row, expected in EXPECTED_ERRORS.items():
        assert _messages(report, row) == expected, row
    for row in (6, 8, 16):
        assert _messages(report, row) == []
    r6, r8, r16 = (next(r for r in report.rows if r.row == n) for n in (6, 8, 16))
    assert r6.code == "SYS-101"
    assert [(p.field, p.message) for p in r6.notices] == [
        ("code", "row 6, 系统编码 (code): 编码已规范化 'ＳＹＳ－１０１' → 'SYS-101' / code normalised"),
        ("owner_unit_id", "row 6, 所属单位编码 (owner_unit): 编码已规范化 'GXDSJ\\xa0' → 'GXDSJ' / code normalised"),
        ("cloud_id", "row 6, 所在云编码 (cloud): 编码已规范化 'ＧＯＶＣＬＯＵＤ' → 'GOVCLOUD' / code normalised"),
    ]
    assert {k: after for k, (_, after) in r6.changes.items()} == {
        "name": "不动产登记系统",
        "owner_unit_id": "GXDSJ",
        "classified": "否",
        "hosting": "gov_cloud",
        "cloud_id": "GOVCLOUD",
        "status": "migrated",
        "status_changed_at": "2023-03-05T00:00:00+08:00",
        "vcpus": "16",
        "memory_gb": "32",
        "storage_gb": "1024",
        "last_access_at": "2024-01-05",
        "business_active": "是",
    }
    assert r8.code == "450103198001011"
    assert r8.changes["status_changed_at"][1] == "2024-01-05T00:00:00+08:00"
    assert r8.changes["last_access_at"][1] == "2024-01-05"
    assert r8.changes["business_active"][1] == "是"
    assert r16.changes["last_access_at"][1] == "2024-01-05"
    assert r16.changes["status"][1] == "in_progress"
    assert r16.changes["status_changed_at"][1] == "2022-12-31T23:30:00+08:00"
    assert r16.changes["business_active"][1] == "否"
    assert report.counts == {"create": 3, "update": 0, "unchanged": 0, "error": 7}
    # the same file applied: refused as a whole, nothing written (objects and change log)
    with any_db.session() as s:
        applied = io.apply_import(s, "systems", read_table(data, "部门清单.xlsx"), CTX)
        assert not applied.applied and not applied.ok
        assert [r.action for r in applied.rows] == [r.action for r in report.rows]
        s.commit()
    with any_db.session() as s:
        assert _counts(s) == before


def test_messy_workbook_without_errors_is_written_as_read(any_db: Database) -> None:
    """Rows 6, 8 and 16 alone: created with normalised codes, parsed numbers, dates and labels."""
    with any_db.session() as s:
        _skeleton(s)
        s.commit()
        before = _counts(s)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["清单"])
    ws.append(HEADER_TOP)
    ws.append(HEADER_SUB)
    ws.append(["ＳＹＳ－１０１", "不动产", "GXDSJ", "否", "政务云", None, "GOVCLOUD", "已迁移", "2023年3月5日", "１６"])
    ws.append([450103198001011.0, "社保", "GXDSJ", "否", "机房", "ROOM-1", None, "未迁移", "2024.1.5"])
    out = stdio.BytesIO()
    wb.save(out)
    with any_db.session() as s:
        report = io.apply_import(s, "systems", read_table(out.getvalue(), "x.xlsx"), CTX)
        assert report.ok and report.applied, report.all_problems()
        s.commit()
    with any_db.session() as s:
        assert _counts(s) == (before[0] + 2, before[1] + 2)
        a = s.scalars(select(InformationSystem).where(InformationSystem.code == "SYS-101")).one()
        b = s.scalars(select(InformationSystem).where(InformationSystem.code == "450103198001011")).one()
        assert (a.status, a.hosting, a.vcpus) == (SystemStatus.MIGRATED, Hosting.GOV_CLOUD, 16)
        assert a.status_changed_at is not None
        assert a.status_changed_at.replace(tzinfo=a.status_changed_at.tzinfo or UTC) == datetime(
            2023, 3, 4, 16, 0, tzinfo=UTC
        )
        assert (b.status, b.hosting) == (SystemStatus.NOT_MIGRATED, Hosting.ROOM)


def test_header_not_found_comes_first(db: Database) -> None:
    data = "某厅清单\n说明,无\n颜色,大小\n红,大\n".encode()
    with db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "x.csv"), CTX)
    assert report.header_rows is None and report.rows == []
    assert report.problems[0].message.startswith("未找到表头：前30行中没有一行含有信息系统的列名（如 系统编码）")
    assert report.error().message.startswith("未找到表头")


def test_csv_title_row_above_the_header(db: Database) -> None:
    with db.session() as s:
        _skeleton(s)
        s.commit()
    data = "网络清单,,\n\n专网编码,专网名称,所属单位编码,层级,迁移状态\nNET-1,政务专网,GXDSJ,区级,已打通\n".encode()
    with db.session() as s:
        report = io.plan_import(s, "networks", read_table(data, "n.csv"), CTX)
    assert report.ok, report.all_problems()
    assert report.header_rows == (3, 3)
    assert report.rows[0].row == 4
    assert report.rows[0].changes["status"] == ("", NetworkStatus.INTERCONNECTED.value)
    assert report.rows[0].changes["level"] == ("", "region")


# --- single cells --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["2024-01-05", "2024/1/5", "2024.1.5", "2024年1月5日", "２０２４年１月５日", datetime(2024, 1, 5), 45296, 45296.0],
)
def test_date_forms(raw: Any) -> None:
    assert cells.read_cell(date, raw) == date(2024, 1, 5)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-05 09:30", datetime(2024, 1, 5, 1, 30, tzinfo=UTC)),
        ("2024年1月5日 9:30", datetime(2024, 1, 5, 1, 30, tzinfo=UTC)),
        ("2024/1/5T09:30:00+00:00", datetime(2024, 1, 5, 9, 30, tzinfo=UTC)),
        ("2024-01-05", datetime(2024, 1, 4, 16, 0, tzinfo=UTC)),
        (datetime(2024, 1, 5, 9, 30), datetime(2024, 1, 5, 1, 30, tzinfo=UTC)),
    ],
)
def test_datetime_forms_are_beijing_time_without_offset(raw: Any, expected: datetime) -> None:
    assert cells.read_cell(datetime, raw) == expected


@pytest.mark.parametrize("raw", ["2024-02-30", "2024年13月1日", 2024, "45296", "明天"])
def test_bad_dates_are_refused(raw: Any) -> None:
    with pytest.raises(CellError):
        cells.read_cell(date, raw)


@pytest.mark.parametrize(
    ("typ", "raw", "expected"),
    [
        (SystemStatus, "已迁移", "migrated"),
        (SystemStatus, " MIGRATED ", "migrated"),
        (Hosting, "政务云", "gov_cloud"),
        (NetworkStatus, "已打通", "interconnected"),
        (bool, "✓", True),
        (bool, "√", True),
        (bool, "×", False),
        (bool, "是", True),
        (bool, "否", False),
        (int, "１，０２４", 1024),
        (int, f"{NBSP}12{IDEO}", 12),
        (float, "７．５", 7.5),
        (str, 450103198001011.0, "450103198001011"),
        (str, 123456789012345678, "123456789012345678"),  # an int cell keeps every digit
    ],
)
def test_labels_widths_and_numbers(typ: Any, raw: Any, expected: Any) -> None:
    assert cells.read_cell(typ, raw) == expected


@pytest.mark.parametrize(
    ("typ", "raw"),
    [
        (str, 1234567890123456.0),  # 16 digits as a float: Excel may have rounded it
        (int, 1.0e16),
        (int, 2.5),
        (str, cells.FormulaWithoutValue("=A1")),
        (int, "#N/A"),
        (bool, "也许"),
    ],
)
def test_unrecoverable_cells_are_refused(typ: Any, raw: Any) -> None:
    with pytest.raises(CellError):
        cells.read_cell(typ, raw)


def test_codes_are_normalised_and_spaces_inside_refused() -> None:
    assert cells.code(f"{NBSP}ＧＸ－（１）{IDEO}") == "GX-(1)"
    with pytest.raises(CellError):
        cells.code("GX 1")


def test_template_notes_show_the_labels() -> None:
    rows = exporting.notes("systems")
    status = next(r for r in rows if r and r[2] == "status")
    assert "migrated（已迁移）" in status[6]


def _with_cached_value(data: bytes, cell: str, value: str) -> bytes:
    """The workbook as Excel saves it: the formula in `cell` followed by its cached result."""
    src = zipfile.ZipFile(stdio.BytesIO(data))
    out = stdio.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = body.decode()
                at = text.index(f'<c r="{cell}">')
                end = text.index("</c>", at)
                text = text[:at] + text[at:end].replace("<v />", f"<v>{value}</v>") + text[end:]
                body = text.encode()
            dst.writestr(info, body)
    return out.getvalue()


def test_formula_with_a_cached_value_is_read_as_that_value(db: Database) -> None:
    with db.session() as s:
        _skeleton(s)
        s.commit()
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["系统编码", "系统名称", "所属单位编码", "部署方式", "所在机房编码", "vCPU数", "内存(GB)"])
    ws.append(["F1", "公式", "GXDSJ", "机房", "ROOM-1", "=2*8", "=A1"])
    raw = stdio.BytesIO()
    wb.save(raw)
    data = _with_cached_value(raw.getvalue(), "F2", "16")  # G2 keeps no cached value
    with db.session() as s:
        report = io.plan_import(s, "systems", read_table(data, "f.xlsx"), CTX)
    row = report.rows[0]
    assert row.changes["vcpus"] == ("", "16")
    assert [p.field for p in row.problems] == ["memory_gb"]
    assert "=A1" in row.problems[0].message and "没有保存计算结果" in row.problems[0].message


def test_marked_headers_and_references_differing_by_case(db: Database) -> None:
    with db.session() as s:
        _skeleton(s)
        s.commit()
        before = _counts(s)
    data = '*系统编码（必填）,"系统\n名称",所属单位编码,部署方式,所在机房编码\nZ1,一,gxdsj,机房,ROOM-1\n'.encode()
    with db.session() as s:
        report = io.apply_import(s, "systems", read_table(data, "z.csv"), CTX)
        s.commit()
    assert report.problems == [] and report.header_rows == (1, 1)
    assert _messages(report, 2) == [
        (
            "owner_unit_id",
            "row 2, 所属单位编码 (owner_unit): unknown units code 'gxdsj' / 引用的编码不存在; "
            "仅全半角或大小写不同的已有编码 'GXDSJ' / did you mean 'GXDSJ'?",
        )
    ]
    with db.session() as s:
        assert _counts(s) == before
