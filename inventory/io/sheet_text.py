"""Text stays text in every XLSX the service writes (inventory exports, wave plans, reports).

A string that starts with `=`, `+`, `-` or `@` would be a live formula in a spreadsheet (openpyxl itself
stores a leading `=` as a formula). Every writer goes through `cell()`, `write_only_cell()` or
`append_row()`: such strings are stored as string cells with Excel's quote prefix (shown as typed, still
text after editing); other values are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import Cell, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def _as_text(cell: Cell | WriteOnlyCell, value: str) -> None:
    cell.value = value
    cell.data_type = "s"  # after the value: openpyxl types a leading "=" as a formula on assignment
    cell.quotePrefix = True


def cell(ws: Worksheet, row: int, column: int, value: Any = None) -> Cell:
    """`ws.cell(row, column, value)`, with formula-like text kept as text."""
    c = ws.cell(row, column)
    if is_formula_like(value):
        _as_text(c, value)
    elif value is not None:
        c.value = value
    return c


def write_only_cell(ws: WriteOnlyWorksheet, value: Any) -> Any:
    """A value for `ws.append` on a write-only sheet: formula-like text wrapped as a text cell."""
    if not is_formula_like(value):
        return value
    c = WriteOnlyCell(ws)
    _as_text(c, value)
    return c


def append_row(ws: Worksheet, values: Iterable[Any]) -> None:
    """`ws.append(values)` on a normal sheet, with formula-like text kept as text."""
    row = ws.max_row + 1 if ws.max_row > 1 or ws.cell(1, 1).value is not None else 1
    for column, value in enumerate(values, start=1):
        cell(ws, row, column, value)
