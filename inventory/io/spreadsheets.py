"""Read and write CSV/XLSX tables safely: size, row and zip-bomb limits, encodings, one header row."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import zip_longest
from typing import Any, Literal

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from core.errors import Problem, TooLarge, ValidationFailed
from inventory.io.cells import EXCEL_EPOCH, FormulaWithoutValue
from inventory.io.sheet_text import is_formula_like, write_only_cell

Format = Literal["csv", "xlsx"]
MAX_ROWS = 200_000  # data rows per file
MAX_XLSX_UNPACKED = 400 * 1024 * 1024  # bytes once unzipped; larger is treated as a zip bomb
MAX_XLSX_RATIO = 200  # compression ratio above which a member is treated as a zip bomb
XLSX_MAGIC = b"PK\x03\x04"
NOTES_TITLE = "说明 Notes"


@dataclass
class SourceTable:
    """A file as read: its first row and the rows after it, each with its row number in the file (first = 1).

    The first row is only a guess at the header: the importer looks for the real header row (title rows and
    notes may sit above it) with `all_rows()`. `epoch` is serial 0 of the workbook's date system: numbers in
    date columns are counted from it (1904-01-01 for a workbook saved with the 1904 date system).
    """

    headers: list[str]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)
    format: Format = "csv"
    header_row: int = 1
    epoch: date = EXCEL_EPOCH

    def all_rows(self) -> list[tuple[int, list[Any]]]:
        """The header guess and every row after it, with their file row numbers."""
        return [(self.header_row, list(self.headers)), *self.rows]

    @classmethod
    def from_dicts(cls, records: Sequence[dict[str, Any]]) -> SourceTable:
        """A table from dicts keyed by header (row numbers as if the first record were file row 2)."""
        headers: list[str] = []
        for rec in records:
            headers += [h for h in rec if h not in headers]
        return cls(headers, [(i + 2, [rec.get(h) for h in headers]) for i, rec in enumerate(records)], "xlsx")


def format_of(filename: str | None, data: bytes | None = None) -> Format:
    """The format from a file name (`.csv`, `.xlsx`), else from the content (zip → xlsx)."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith((".csv", ".txt")):
        return "csv"
    if data is not None and data.startswith(XLSX_MAGIC):
        return "xlsx"
    if name.endswith(".xls"):
        raise ValidationFailed(
            "old .xls files are not supported / 不支持 .xls，请另存为 .xlsx 或 CSV",
            [Problem("save as .xlsx or CSV UTF-8", field="file", value=filename)],
        )
    return "csv"


def read_table(data: bytes, filename: str | None = None, max_bytes: int | None = None) -> SourceTable:
    """Parse an uploaded file; TooLarge before any parsing when it exceeds max_bytes."""
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLarge(
            f"file is {len(data)} bytes; the limit is {max_bytes} / 文件超过上传上限",
            [Problem("file too large", field="file", value=len(data))],
        )
    return read_xlsx(data) if format_of(filename, data) == "xlsx" else read_csv(data)


def _bad_file(message: str, row: int | None = None, value: Any = None) -> ValidationFailed:
    return ValidationFailed(message, [Problem(message, field="file", row=row, value=value)])


def read_csv(data: bytes) -> SourceTable:
    """CSV in UTF-8 (with or without BOM); anything else is rejected with the row where decoding failed."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise _bad_file(
            f"row {row}: the file is not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8' / 文件不是 UTF-8 编码，请另存为 CSV UTF-8",
            row=row,
        ) from None
    if "\x00" in text:
        row = text[: text.index("\x00")].count("\n") + 1
        raise _bad_file(f"row {row}: NUL byte in a CSV file (is it a binary file?) / 含有非法字符", row=row)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    table = SourceTable([], format="csv")
    record = 0
    try:
        for cells in reader:
            record += 1
            if record == 1:
                table.headers = [c.strip() for c in cells]
                continue
            if record - 1 > MAX_ROWS:
                raise _bad_file(f"more than {MAX_ROWS} data rows / 超过 {MAX_ROWS} 行", row=record)
            table.rows.append((record, cells))
    except csv.Error as exc:
        raise _bad_file(f"row {record + 1}: malformed CSV ({exc}) / CSV 格式错误", row=record + 1) from None
    if not table.headers and not table.rows:
        raise _bad_file("the file is empty (no header row) / 文件为空")
    return table


def _check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        raise _bad_file("not a valid XLSX file (it is not a zip archive) / 不是有效的 XLSX 文件") from None
    total = sum(i.file_size for i in infos)
    worst = max((i.file_size / max(i.compress_size, 1) for i in infos), default=0)
    if total > MAX_XLSX_UNPACKED or (worst > MAX_XLSX_RATIO and total > 10 * 1024 * 1024):
        raise _bad_file(
            f"XLSX unpacks to {total} bytes (ratio {worst:.0f}); refused as a zip bomb / 解压后过大", value=total
        )


def _has_formulas(data: bytes) -> bool:
    """Whether any worksheet holds a formula (`<f>` element); only then is the second, formula pass needed."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                with zf.open(info) as member:
                    while chunk := member.read(1 << 20):
                        if b"<f>" in chunk or b"<f " in chunk or b":f>" in chunk or b":f " in chunk:
                            return True
    return False


def _is_formula(value: Any) -> bool:
    return (isinstance(value, str) and value.startswith("=")) or hasattr(value, "text")  # ArrayFormula has .text


def _load(data: bytes, data_only: bool) -> Any:
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)
    except Exception as exc:  # openpyxl raises many types (KeyError, InvalidFileException, XML errors)
        raise _bad_file(f"not a valid XLSX file ({type(exc).__name__}) / 不是有效的 XLSX 文件") from None


def _epoch(wb: Any) -> date:
    epoch = getattr(wb, "epoch", None)
    return epoch.date() if isinstance(epoch, datetime) else epoch if isinstance(epoch, date) else EXCEL_EPOCH


def read_xlsx(data: bytes) -> SourceTable:
    """The first data worksheet of an XLSX workbook (read-only); the 说明 Notes sheet is ignored.

    Cells are read as Excel last saved them (cached values). A formula cell with no cached value becomes a
    `FormulaWithoutValue`, so the importer refuses it instead of reading it as empty.
    """
    _check_zip(data)
    wb = _load(data, data_only=True)
    wf = _load(data, data_only=False) if _has_formulas(data) else None
    try:
        ws = next((w for w in wb.worksheets if w.title != NOTES_TITLE), wb.worksheets[0])
        values = ws.iter_rows(values_only=True)
        formulas = wf[ws.title].iter_rows(values_only=True) if wf is not None else iter(())
        # openpyxl already reads date-formatted cells in the workbook's date system; plain numbers in date
        # columns are read by the importer, which needs the same system (`date1904="1"` in workbook.xml).
        table = SourceTable([], format="xlsx", epoch=_epoch(wb))
        for number, (row, frow) in enumerate(zip_longest(values, formulas, fillvalue=()), start=1):
            cells: list[Any] = [
                FormulaWithoutValue(str(getattr(f, "text", f))) if v is None and _is_formula(f) else v
                for v, f in zip_longest(row, frow)
            ]
            while cells and (cells[-1] is None or (isinstance(cells[-1], str) and not cells[-1].strip())):
                cells.pop()
            if number == 1:
                table.headers = ["" if c is None else str(c).strip() for c in cells]
                continue
            if number - 1 > MAX_ROWS:
                raise _bad_file(f"more than {MAX_ROWS} data rows / 超过 {MAX_ROWS} 行", row=number)
            table.rows.append((number, cells))
    except ValidationFailed:
        raise
    except Exception as exc:
        raise _bad_file(f"unreadable XLSX worksheet ({type(exc).__name__}) / XLSX 工作表无法读取") from None
    finally:
        wb.close()
        if wf is not None:
            wf.close()
    if not table.headers and not table.rows:
        raise _bad_file("the first worksheet is empty (no header row) / 第一个工作表为空")
    return table


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV with a BOM (so Excel shows Chinese correctly); cells already as text."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def write_xlsx(
    sheet: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    notes: Sequence[Sequence[Any]] = (),
    notes_title: str = NOTES_TITLE,
) -> bytes:
    """An XLSX workbook: the data sheet (bold header, frozen first row) and an optional notes sheet."""
    wb = Workbook(write_only=True)
    ws: WriteOnlyWorksheet = wb.create_sheet(sheet[:31])
    ws.freeze_panes = "A2"
    for i, h in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(40, 2 * len(h) + 4))
    ws.append([_bold(ws, h) for h in headers])  # our own headers: never formula-like
    for row in rows:
        ws.append([_xlsx_value(ws, v) for v in row])
    if notes:
        ns: WriteOnlyWorksheet = wb.create_sheet(notes_title[:31])
        for i, width in enumerate((18, 20, 22, 28, 10, 28, 60), start=1):
            ns.column_dimensions[get_column_letter(i)].width = width
        for n, note in enumerate(notes):
            ns.append([_bold(ns, v) if n == 0 else write_only_cell(ns, v) for v in note])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _bold(ws: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=value)
    cell.font = Font(bold=True)
    return cell


def _xlsx_value(ws: WriteOnlyWorksheet, value: Any) -> Any:
    if is_formula_like(value):  # text, never a formula (inventory.io.sheet_text)
        return write_only_cell(ws, value)
    if isinstance(value, date) and not isinstance(value, datetime):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return value
