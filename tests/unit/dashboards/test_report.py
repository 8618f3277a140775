"""Monthly supervision report: figures as of month end (Beijing time), rankings, below-target units, changes,
deterministic XLSX and the frozen published copy. Figures are those worked out by hand in tests/report_inventory.py.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select

from core.audit import ChangeContext
from core.db import Database
from core.errors import Conflict, RuleViolation, ValidationFailed
from core.models import ChangeLog
from dashboards import report
from dashboards.models import PublishedReport
from dashboards.report import Month
from dashboards.report_html import render_html
from dashboards.report_xlsx import FIRST_DATA_ROW, HEADER_ROW, render_xlsx
from tests import report_inventory
from tests.builders import Inv

FEB, JAN = Month(2024, 2), Month(2024, 1)
RATE_NAMES = [
    "非涉密信息系统迁移上云率",
    "非涉密业务专网迁移打通率",
    "区垂及市垂系统事项对接完成率",
    "电子政务外网横向接入率",
    "云网统筹利用完成率",
]


@pytest.fixture
def ids(db: Database) -> dict[str, int]:
    with db.session() as s:
        return report_inventory.build(s)


def _xlsx(db: Database, month: Month) -> bytes:
    with db.session() as s:
        return render_xlsx(report.build(s, month))


def _rows(ws: Worksheet) -> list[tuple[Any, ...]]:
    """Data rows (from FIRST_DATA_ROW) up to the first empty row."""
    out = []
    for row in ws.iter_rows(min_row=FIRST_DATA_ROW, values_only=True):
        if row[0] is None:
            break
        out.append(row)
    return out


def _book(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data))


def test_month_end_is_the_last_instant_in_beijing_time() -> None:
    assert FEB.as_of.isoformat() == "2024-02-29T23:59:59.999999+08:00"
    assert FEB.as_of.astimezone(UTC) == datetime(2024, 2, 29, 15, 59, 59, 999999, tzinfo=UTC)
    assert Month(2023, 12).as_of.isoformat() == "2023-12-31T23:59:59.999999+08:00"
    assert Month.parse("2024-01").previous() == Month(2023, 12)
    for bad in ("2024-13", "2024-1", "24-01", ""):
        with pytest.raises(ValidationFailed):
            Month.parse(bad)


def test_workbook_has_the_six_sheets_with_chinese_headers_first(db: Database, ids: dict[str, int]) -> None:
    wb = _book(_xlsx(db, FEB))
    assert wb.sheetnames == ["总体情况", "单位排名", "地市排名", "未达标单位", "环比变化", "说明"]
    headers = [c.value for c in wb["总体情况"][HEADER_ROW]]
    assert headers[:5] == ["指标 Rate", "英文名称 English name", "分子 Numerator", "分母 Denominator", "完成率 Ratio"]
    assert "2024-02-29T23:59:59.999999+08:00" in wb["总体情况"]["A2"].value
    assert "草稿" in wb["总体情况"]["A2"].value


def test_overall_sheet_has_the_month_end_ratios_and_exclusions(db: Database, ids: dict[str, int]) -> None:
    rows = _rows(_book(_xlsx(db, FEB))["总体情况"])
    assert [r[0] for r in rows] == RATE_NAMES
    # name, n, d, ratio, target, met, classified, retired, exempt
    got = {r[0]: (r[2], r[3], r[4], r[5], r[7], r[8], r[9]) for r in rows}
    # A2 migrated at 2024-01-31T16:30Z = 2024-02-01 Beijing: counted in February, B2 exempt, A3 classified.
    assert got["非涉密信息系统迁移上云率"] == (4, 7, 4 / 7, 1.0, 1, 0, 1)
    assert got["非涉密业务专网迁移打通率"] == (1, 2, 1 / 2, 1.0, 0, 0, 0)
    assert got["区垂及市垂系统事项对接完成率"] == (2, 2, 1.0, 1.0, 0, 0, 0)
    assert got["电子政务外网横向接入率"] == (3, 4, 3 / 4, 1.0, 0, 0, 0)
    assert got["云网统筹利用完成率"] == (5, 9, 5 / 9, 1.0, 1, 0, 1)
    assert [r[6] for r in rows] == ["未达标 below", "未达标 below", "达标 met", "未达标 below", "未达标 below"]


def test_a_change_just_after_midnight_beijing_belongs_to_the_next_month(db: Database, ids: dict[str, int]) -> None:
    jan = {r[0]: (r[2], r[3]) for r in _rows(_book(_xlsx(db, JAN))["总体情况"])}
    assert jan["非涉密信息系统迁移上云率"] == (3, 8)  # A2 not yet migrated, B2 not yet exempt
    assert jan["电子政务外网横向接入率"] == (2, 4)


def test_unit_ranking_orders_by_mean_ratio_with_shared_ranks(db: Database, ids: dict[str, int]) -> None:
    rows = _rows(_book(_xlsx(db, FEB))["单位排名"])
    # NN: systems, access, utilisation all 100%; RA: all five 100%; LZ: only access 1/1 of four rates; RB: 0.
    assert [(r[0], r[1], r[3]) for r in rows] == [(1, "NN", 1.0), (1, "RA", 1.0), (3, "LZ", 0.25), (4, "RB", 0.0)]
    lz = rows[2]
    assert lz[2] == "柳州市大数据发展局"
    assert (lz[4], lz[5]) == (0.0, "0/2")  # systems ratio and n/d
    assert lz[6:8] == (0.0, "0/1")  # networks
    assert lz[8:10] == (None, None)  # no service items


def test_city_ranking_groups_region_level_units_as_region_own(db: Database, ids: dict[str, int]) -> None:
    rows = _rows(_book(_xlsx(db, FEB))["地市排名"])
    # 自治区本级 = RA + RB: systems 2/3, networks 1/1, items 2/2, access 1/2, utilisation 3/4.
    own = (2 / 3 + 1 + 1 + 1 / 2 + 3 / 4) / 5
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (1, "450100", "南宁市"),
        (2, "450000", "自治区本级"),
        (3, "450200", "柳州市"),
    ]
    assert rows[1][3] == pytest.approx(own, abs=1e-12)
    assert rows[1][5] == "2/3"


def test_units_below_target_are_listed_rate_by_rate(db: Database, ids: dict[str, int]) -> None:
    rows = _rows(_book(_xlsx(db, FEB))["未达标单位"])
    assert [(r[0], r[2], r[3], r[4], r[8]) for r in rows] == [
        ("LZ", "非涉密信息系统迁移上云率", 0, 2, 2),
        ("RB", "非涉密信息系统迁移上云率", 0, 1, 1),
        ("LZ", "非涉密业务专网迁移打通率", 0, 1, 1),
        ("RB", "电子政务外网横向接入率", 0, 1, 1),
        ("LZ", "云网统筹利用完成率", 0, 3, 3),
        ("RB", "云网统筹利用完成率", 0, 1, 1),
    ]


def test_month_over_month_compares_with_previous_month_end(db: Database, ids: dict[str, int]) -> None:
    ws = _book(_xlsx(db, FEB))["环比变化"]
    rows = _rows(ws)
    got = {r[0]: r[1:] for r in rows}
    assert got["非涉密信息系统迁移上云率"] == (3, 8, 3 / 8, 4, 7, 4 / 7, 4 / 7 - 3 / 8, 1)
    assert got["区垂及市垂系统事项对接完成率"] == (1, 2, 1 / 2, 2, 2, 1.0, 1 / 2, 1)
    assert got["电子政务外网横向接入率"] == (2, 4, 1 / 2, 3, 4, 3 / 4, 1 / 4, 1)
    units = {
        r[0]: r[2:] for r in ws.iter_rows(min_row=FIRST_DATA_ROW + len(rows) + 3, values_only=True) if r[0] is not None
    }
    # RA in January: systems 1/2, networks 1, items 1/2, access 1, utilisation 2/3 → rank 2.
    ra_jan = (1 / 2 + 1 + 1 / 2 + 1 + 2 / 3) / 5
    assert units["RA"][:3] == (2, 1, pytest.approx(ra_jan, abs=1e-12))
    assert units["RA"][4] == pytest.approx(1.0 - ra_jan, abs=1e-12)
    assert units["LZ"][:5] == (3, 3, 0.0, 0.25, 0.25)


def test_notes_explain_as_of_and_exclusions(db: Database, ids: dict[str, int]) -> None:
    notes = " ".join(str(r[0]) for r in _rows(_book(_xlsx(db, FEB))["说明"]))
    for phrase in ("北京时间", "涉密", "豁免", "冻结"):
        assert phrase in notes


def test_xlsx_is_deterministic(db: Database, ids: dict[str, int]) -> None:
    assert _xlsx(db, FEB) == _xlsx(db, FEB)
    with db.session() as s:
        assert render_html(report.build(s, FEB)) == render_html(report.build(s, FEB))


def test_html_report_is_printable_and_shows_the_figures(db: Database, ids: dict[str, int]) -> None:
    with db.session() as s:
        html = render_html(report.build(s, FEB)).decode()
    assert "@media print" in html and "@page" in html
    assert "2024年2月" in html and "57.14%" in html  # 4/7
    assert "柳州市大数据发展局" in html and "草稿" in html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org", "")


def _publish(db: Database, month: Month, actor: str = "office") -> PublishedReport:
    with db.session() as s:
        return report.publish(s, month, ChangeContext(actor=actor, role="cloud_chief_office"), render_xlsx, render_html)


def test_publishing_freezes_the_report_while_the_draft_follows_the_inventory(db: Database, ids: dict[str, int]) -> None:
    row = _publish(db, FEB)
    frozen_xlsx, frozen_html = row.xlsx, row.html
    assert report.sha256(frozen_xlsx) == row.xlsx_sha256
    assert "已发布" in _book(frozen_xlsx)["总体情况"]["A2"].value
    with db.session() as s:  # a back-dated change inside February, after publishing
        Inv(s).set(
            "systems",
            ids["B1"],
            at=datetime(2024, 2, 20, tzinfo=UTC),
            status="migrated",
            hosting="gov_cloud",
            cloud_id=ids["CLOUD"],
        )
    with db.session() as s:
        again = report.require_published(s, FEB)
        assert again.xlsx == frozen_xlsx and again.html == frozen_html
        assert report.sha256(again.xlsx) == row.xlsx_sha256
    draft = {r[0]: (r[2], r[3]) for r in _rows(_book(_xlsx(db, FEB))["总体情况"])}
    published = {r[0]: (r[2], r[3]) for r in _rows(_book(frozen_xlsx)["总体情况"])}
    assert published["非涉密信息系统迁移上云率"] == (4, 7)
    assert draft["非涉密信息系统迁移上云率"] == (5, 7)


def test_publishing_a_month_twice_is_a_conflict_and_is_audited(db: Database, ids: dict[str, int]) -> None:
    row = _publish(db, FEB)
    with pytest.raises(Conflict):
        _publish(db, FEB, actor="someone-else")
    with db.session() as s:
        entries = s.scalars(select(ChangeLog).where(ChangeLog.kind == "reports")).all()
        assert [(e.actor, e.action.value, e.object_code, e.object_id) for e in entries] == [
            ("office", "decide", "report-2024-02", row.id)
        ]
        assert entries[0].after is not None and entries[0].after["xlsx_sha256"] == row.xlsx_sha256
        assert [r.month for r in report.list_published(s)] == ["2024-02"]


def test_a_month_that_has_not_ended_cannot_be_published(db: Database, ids: dict[str, int]) -> None:
    with pytest.raises(RuleViolation):
        _publish(db, report.current_month())


def test_published_bytes_survive_the_store_on_sqlite_and_postgresql(any_db: Database) -> None:
    with any_db.session() as s:
        report_inventory.build(s)
    row = _publish(any_db, FEB)
    with any_db.session() as s:
        again = report.require_published(s, FEB)
        assert (report.sha256(again.xlsx), report.sha256(again.html)) == (row.xlsx_sha256, row.html_sha256)
        assert report.summary(again)["as_of"] == "2024-02-29T23:59:59.999999+08:00"
        overall = {r[0]: (r[2], r[3]) for r in _rows(_book(again.xlsx)["总体情况"])}
    assert overall["非涉密信息系统迁移上云率"] == (4, 7)
    assert overall["电子政务外网横向接入率"] == (3, 4)
