"""Every XLSX writer of the service keeps formula-like text as text (inventory.io.sheet_text).

Writers (grep `Workbook(`): inventory exports/templates (inventory/spreadsheets.write_xlsx), the wave plan
(migrations_plan/export.workbook) and the monthly report (dashboards/report_xlsx.render_xlsx).
"""

from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest
from openpyxl import load_workbook

from core.audit import ChangeContext
from core.db import Database
from dashboards import report
from dashboards.report import Month
from dashboards.report_xlsx import render_xlsx
from inventory import service
from inventory.io import exporting
from migrations_plan.export import Row, workbook
from tests import report_inventory

NASTY = ["=1+1", '=HYPERLINK("http://evil.example","x")', "+1+2", "-3+4", "@SUM(A1:A2)"]


def _no_formulas(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in z.read(name).decode(), name


def _texts(data: bytes) -> dict[str, str]:
    """Every string cell value → its data type, over all sheets (formulas would be type 'f')."""
    wb = load_workbook(io.BytesIO(data))
    return {str(c.value): c.data_type for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value}


@pytest.mark.parametrize("name", NASTY)
def test_inventory_export_keeps_text(db: Database, name: str) -> None:
    with db.session() as s:
        service.create(s, "regions", {"code": "R-1", "name": name, "level": "city"}, ChangeContext("t"))
    with db.session() as s:
        data = exporting.export_file(s, "regions", "xlsx", None)
    _no_formulas(data)
    assert _texts(data)[name] == "s"
    wb = load_workbook(io.BytesIO(data))
    assert wb.worksheets[0]["B2"].value == name and wb.worksheets[0]["B2"].quotePrefix is True


def test_wave_plan_keeps_text() -> None:
    rows = [
        Row(1, "system", "=CODE()", NASTY[1], "+单位", "-城市", "@云", "=f", None, ["=dep"], "planned", ["-reason"]),
    ]
    data = workbook(rows, {"waves": 1, "planned": 1, "unplanned": 0}, [["=a", "+b"]])
    _no_formulas(data)
    texts = _texts(data)
    for value in ("=CODE()", NASTY[1], "+单位", "-城市", "@云", "=f", "=dep", "-reason", "=a; +b"):
        assert texts[value] == "s", value
    assert load_workbook(io.BytesIO(data)).worksheets[0]["C2"].value == "=CODE()"


def test_report_keeps_text(db: Database) -> None:
    with db.session() as s:
        report_inventory.build(s)
    with db.session() as s:
        data = report.build(s, Month(2024, 2))
    units = [dataclasses.replace(u, label=NASTY[i % len(NASTY)]) for i, u in enumerate(data.units)]
    notes = [("=注意", "+note"), *data.notes]
    out = render_xlsx(dataclasses.replace(data, units=units, notes=notes))
    _no_formulas(out)
    texts = _texts(out)
    for value in {u.label for u in units} | {"=注意", "+note"}:
        assert texts[value] == "s", value
    assert len(units) == 4  # RA, RB, NN, LZ in tests/report_inventory.py


def test_template_notes_and_plain_values_unchanged() -> None:
    data = exporting.template("regions", "xlsx")
    wb = load_workbook(io.BytesIO(data))
    assert [c.value for c in wb.worksheets[0][1]] == ["区划代码", "名称", "层级", "上级区划代码"]
    _no_formulas(data)
