"""The wave plan as an XLSX workbook: Chinese headers with English beside them."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from inventory.io.sheet_text import append_row


@dataclass(frozen=True)
class Row:
    """One plan line as exported (stored items and fresh plans both map to this)."""

    wave: int | None
    kind: str
    code: str
    name: str
    unit: str
    city: str
    target_cloud: str
    flavor: str
    group: int | None
    depends_on: Sequence[str]
    status: str
    reasons: Sequence[str]


KIND_ZH = {"system": "信息系统 system", "network": "业务专网 network"}
PLAN_HEADERS = (
    "批次 Wave",
    "类型 Kind",
    "编码 Code",
    "名称 Name",
    "单位 Unit",
    "城市 City",
    "目标云 Target cloud",
    "规格 Flavor",
    "循环组 Cycle group",
    "依赖 Depends on",
    "状态 Status",
    "排批理由 Why this wave",
)


def _sheet(wb: Workbook, title: str, headers: Sequence[str], rows: list[list[Any]], first: bool = False) -> None:
    ws = wb.active if first else wb.create_sheet()
    assert ws is not None
    ws.title = title
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        append_row(ws, r)  # codes/names/reasons starting with = + - @ stay text
    ws.freeze_panes = "A2"
    for i, h in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(60, len(h) * 2))


def workbook(rows: Sequence[Row], summary: Mapping[str, Any], cycles: Sequence[Sequence[str]]) -> bytes:
    """Sheets: 迁移批次 Waves, 未排入 Unplanned, 循环依赖 Cycles, 概要 Summary."""
    wb = Workbook()

    def line(r: Row) -> list[Any]:
        return [
            r.wave,
            KIND_ZH.get(r.kind, r.kind),
            r.code,
            r.name,
            r.unit,
            r.city,
            r.target_cloud,
            r.flavor,
            r.group,
            "; ".join(r.depends_on),
            r.status,
            "\n".join(r.reasons),
        ]

    planned = [line(r) for r in rows if r.wave is not None]
    unplanned = [line(r) for r in rows if r.wave is None]
    _sheet(wb, "迁移批次 Waves", PLAN_HEADERS, planned, first=True)
    _sheet(wb, "未排入 Unplanned", PLAN_HEADERS, unplanned)
    _sheet(
        wb,
        "循环依赖 Cycles",
        ("循环组 Cycle group", "成员 Members"),
        [[n, "; ".join(c)] for n, c in enumerate(cycles, start=1)],
    )
    _sheet(
        wb,
        "概要 Summary",
        ("项目 Item", "值 Value"),
        [
            ["批次数 Waves", summary.get("waves")],
            ["排入项 Planned items", summary.get("planned")],
            ["未排入项 Unplanned items", summary.get("unplanned")],
            ["循环依赖组 Cycle groups", len(cycles)],
            *[[f"第{w}批 Wave {w}", n] for w, n in (summary.get("per_wave") or {}).items()],
        ],
    )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
