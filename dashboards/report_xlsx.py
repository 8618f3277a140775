"""The monthly report as an XLSX workbook: Chinese headers first, English beside, byte-for-byte deterministic.

Every sheet has the title in row 1, the as-of line in row 2, headers in row 3 and data from row 4.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from core.times import BEIJING
from dashboards.rates import Rate, RateKey
from dashboards.report import RankRow, ReportData
from inventory.io.sheet_text import cell as text_cell

HEADER_ROW = 3
FIRST_DATA_ROW = 4
PCT = "0.00%"
DELTA = "+0.00%;-0.00%;0.00%"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDE6F3")
_TITLE = Font(bold=True, size=14)

SHEET_OVERALL = "总体情况"
SHEET_UNITS = "单位排名"
SHEET_CITIES = "地市排名"
SHEET_BELOW = "未达标单位"
SHEET_CHANGES = "环比变化"
SHEET_NOTES = "说明"

OVERALL_HEADERS = [
    "指标 Rate",
    "英文名称 English name",
    "分子 Numerator",
    "分母 Denominator",
    "完成率 Ratio",
    "目标 Target",
    "是否达标 Met target",
    "排除：涉密 Excluded: classified",
    "排除：退役 Excluded: retired",
    "排除：豁免 Excluded: exempt",
]


def _as_of_line(data: ReportData) -> str:
    status = "草稿 Draft（未发布 unpublished）"
    if data.published_at is not None:
        status = (
            f"已发布 Published {data.published_at.astimezone(BEIJING):%Y-%m-%d %H:%M} 北京时间 by {data.published_by}"
        )
    return f"统计时点 As of: {data.as_of.isoformat()}（北京时间 China Standard Time） · {status}"


def _sheet(wb: Workbook, title: str, heading: str, data: ReportData, headers: Sequence[str]) -> Worksheet:
    ws = wb.create_sheet(title)
    text_cell(ws, 1, 1, heading).font = _TITLE
    text_cell(ws, 2, 1, _as_of_line(data))
    for col, text in enumerate(headers, 1):
        c = ws.cell(HEADER_ROW, col, text)
        c.font, c.fill = _BOLD, _HEAD_FILL
        c.alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[get_column_letter(col)].width = max(12, min(40, len(text) + 4))
    ws.freeze_panes = ws.cell(FIRST_DATA_ROW, 1)
    return ws


def _row(ws: Worksheet, row: int, values: Iterable[object], formats: dict[int, str] | None = None) -> None:
    for col, value in enumerate(values, 1):
        cell = text_cell(ws, row, col, value)  # unit names etc. starting with = + - @ stay text
        if formats and col in formats and value is not None:
            cell.number_format = formats[col]


def _met(rate: Rate) -> str:
    if rate.target is None:
        return "无目标 no target"
    if rate.ratio is None:
        return "无分母 nothing counted"
    return "达标 met" if rate.ratio >= rate.target else "未达标 below"


def _fraction(rate: Rate | None) -> str | None:
    return f"{rate.numerator}/{rate.denominator}" if rate is not None else None


def _overall(wb: Workbook, data: ReportData) -> None:
    ws = _sheet(wb, SHEET_OVERALL, f"{data.month.label_zh}督查通报：总体情况 Overall rates", data, OVERALL_HEADERS)
    for i, report in enumerate(data.current.values()):
        r, ex = report.overall, report.excluded_counts
        _row(
            ws,
            FIRST_DATA_ROW + i,
            [
                report.label_zh,
                report.label_en,
                r.numerator,
                r.denominator,
                r.ratio,
                r.target,
                _met(r),
                ex.get("classified", 0),
                ex.get("retired", 0),
                ex.get("exempt", 0),
            ],
            {5: PCT, 6: PCT},
        )


def _ranking_headers(first: str, data: ReportData) -> list[str]:
    heads = ["排名 Rank", f"{first}代码 Code", f"{first}名称 Name", "综合得分 Score"]
    for report in data.current.values():
        heads += [f"{report.label_zh} 完成率 Ratio", f"{report.label_zh} 分子/分母 n/d"]
    return [*heads, "说明 Note"]  # tied, or too few items to rank


def _ranking(wb: Workbook, data: ReportData, title: str, heading: str, first: str, rows: list[RankRow]) -> None:
    ws = _sheet(wb, title, heading, data, _ranking_headers(first, data))
    keys: list[RateKey] = list(data.current)
    formats = {4: PCT} | {5 + 2 * i: PCT for i in range(len(keys))}
    for i, row in enumerate(rows):
        values: list[object] = [row.rank, row.key, row.label, row.score]
        for k in keys:
            rate = row.rates.get(k)
            values += [rate.ratio if rate else None, _fraction(rate)]
        _row(ws, FIRST_DATA_ROW + i, [*values, row.note], formats)


def _below(wb: Workbook, data: ReportData) -> None:
    heads = [
        "单位代码 Unit code",
        "单位名称 Unit",
        "指标 Rate",
        "分子 Numerator",
        "分母 Denominator",
        "完成率 Ratio",
        "目标 Target",
        "差距 Gap",
        "尚差对象数 Items short",
    ]
    ws = _sheet(wb, SHEET_BELOW, f"{data.month.label_zh}未达标单位 Units below target", data, heads)
    for i, b in enumerate(data.below_target):
        _row(
            ws,
            FIRST_DATA_ROW + i,
            [
                b.unit_code,
                b.unit_name,
                b.label_zh,
                b.rate.numerator,
                b.rate.denominator,
                b.rate.ratio,
                b.rate.target,
                b.gap,
                b.items_short,
            ],
            {6: PCT, 7: PCT, 8: PCT},
        )


CHANGE_HEADERS = [
    "指标 Rate",
    "上月分子 Previous numerator",
    "上月分母 Previous denominator",
    "上月完成率 Previous ratio",
    "本月分子 Numerator",
    "本月分母 Denominator",
    "本月完成率 Ratio",
    "环比变化 Change",
    "分子增加 Numerator added",
]
UNIT_CHANGE_HEADERS = [
    "单位代码 Unit code",
    "单位名称 Unit",
    "上月排名 Previous rank",
    "本月排名 Rank",
    "上月得分 Previous score",
    "本月得分 Score",
    "环比变化 Change",
]


def _changes(wb: Workbook, data: ReportData) -> None:
    heading = f"{data.month.label_zh}环比变化 Changes since {data.month.previous()}"
    ws = _sheet(wb, SHEET_CHANGES, heading, data, CHANGE_HEADERS)
    row = FIRST_DATA_ROW
    for c in data.rate_changes:
        p, n = c.previous, c.current
        values = [c.label_zh, p.numerator, p.denominator, p.ratio, n.numerator, n.denominator, n.ratio, c.delta]
        _row(ws, row, [*values, n.numerator - p.numerator], {4: PCT, 7: PCT, 8: DELTA})
        row += 1
    row += 1
    ws.cell(row, 1, "单位环比 Units").font = _BOLD
    row += 1
    for col, text in enumerate(UNIT_CHANGE_HEADERS, 1):
        c = ws.cell(row, col, text)
        c.font, c.fill = _BOLD, _HEAD_FILL
    for u in data.unit_changes:
        row += 1
        prev = u.previous
        values = [u.key, u.label, prev.rank if prev else None, u.current.rank]
        _row(ws, row, [*values, prev.score if prev else None, u.current.score, u.delta], {5: PCT, 6: PCT, 7: DELTA})


def _notes(wb: Workbook, data: ReportData) -> None:
    ws = _sheet(wb, SHEET_NOTES, "说明 Notes on rules and exclusions", data, ["说明 Note", "English"])
    ws.column_dimensions["A"].width = 90
    ws.column_dimensions["B"].width = 90
    for i, (zh, en) in enumerate(data.notes):
        _row(ws, FIRST_DATA_ROW + i, [zh, en])
        for col in (1, 2):
            ws.cell(FIRST_DATA_ROW + i, col).alignment = Alignment(wrap_text=True, vertical="top")


def render_xlsx(data: ReportData) -> bytes:
    """The workbook's bytes; the same data always gives the same bytes (fixed times, fixed zip entries)."""
    wb = Workbook()
    wb.remove(wb.active)
    _overall(wb, data)
    _ranking(wb, data, SHEET_UNITS, f"{data.month.label_zh}单位排名 Ranking of units", "单位", data.units)
    _ranking(wb, data, SHEET_CITIES, f"{data.month.label_zh}地市排名 Ranking of cities", "地市", data.cities)
    _below(wb, data)
    _changes(wb, data)
    _notes(wb, data)
    fixed = data.as_of.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    props = wb.properties
    props.creator = props.lastModifiedBy = "yunwang 云网"
    props.title = f"{data.month} 督查通报 monthly supervision report"
    props.created = props.modified = fixed
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _normalised_zip(raw.getvalue())


def _normalised_zip(data: bytes) -> bytes:
    """Rewrite the archive with fixed entry times so equal workbooks are equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()
