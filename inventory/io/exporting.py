"""Export of inventory kinds as CSV/XLSX files that re-import to no change: codes for references, Chinese headers,
and (XLSX) a 说明 Notes sheet; blank templates likewise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from inventory import queries
from inventory.enums import SubjectKind
from inventory.io import labels
from inventory.io.cells import FORMULA_START, cell_text, quoted_formula
from inventory.io.headers import file_columns, python_type, required_fields
from inventory.io.spreadsheets import write_csv, write_xlsx
from inventory.kinds import KINDS, SUBJECT_KINDS


def export_rows(
    session: Session, kind: str, units: frozenset[int] | None = None, ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Every object of a kind (or of a unit subtree, or with these ids) as file values: codes for references."""
    spec = KINDS[kind]
    table: Any = spec.model.__table__
    stmt = select(table).order_by(table.c.id)
    scope = queries.scope_clause(spec, units)
    if scope is not None:
        stmt = stmt.where(scope)
    if ids is not None:
        if not ids:
            return []
        objs = []
        for start in range(0, len(ids), 900):
            part = list(ids[start : start + 900])
            objs += [dict(m) for m in session.execute(stmt.where(table.c.id.in_(part))).mappings()]
    else:
        objs = [dict(m) for m in session.execute(stmt).mappings()]
    if not objs:
        return []
    columns = file_columns(kind)
    codes: dict[str, dict[int, str]] = {}

    def code_of(ref: str, obj_id: int | None) -> str | None:
        if obj_id is None:
            return None
        if ref not in codes:
            codes[ref] = queries.codes_by_id(session, ref)
        return codes[ref].get(obj_id)

    links = {lk.field: _link_targets(session, lk.table, [o["id"] for o in objs]) for lk in spec.links}
    out = []
    for o in objs:
        row: dict[str, Any] = {}
        for col in columns:
            if col.link:
                row[col.field] = sorted(c for t in links[col.field].get(o["id"], []) if (c := code_of(col.link, t)))
            elif col.ref:
                row[col.field] = code_of(col.ref, o[col.field])
            elif col.subject:
                target = SUBJECT_KINDS.get(SubjectKind(o["subject_kind"]))
                row[col.field] = code_of(target, o[col.field]) if target else None
            else:
                value = o[col.field]
                row[col.field] = value.value if isinstance(value, Enum) else value
        out.append(row)
    return out


def _link_targets(session: Session, table: Table, ids: list[int]) -> dict[int, list[int]]:
    own = next(c for c in table.columns if c.name != "target_id")
    found: dict[int, list[int]] = {}
    for start in range(0, len(ids), 900):
        part = ids[start : start + 900]
        for obj_id, target in session.execute(select(own, table.c.target_id).where(own.in_(part))):
            found.setdefault(obj_id, []).append(target)
    return found


def notes(kind: str) -> list[list[Any]]:
    """The 说明 Notes sheet: each column's headers, field, type, whether required, reference and allowed values."""
    spec = KINDS[kind]
    required = set(required_fields(kind))
    out: list[list[Any]] = [
        [
            "列名 header",
            "English header",
            "字段 field",
            "类型 type",
            "新建必填 required",
            "引用 refers to",
            "说明 notes",
        ]
    ]
    for col in file_columns(kind):
        allowed = ""
        if col.link:
            typ, refers = "编码列表 codes joined by ;", f"{KINDS[col.link].zh} {col.link}"
        elif col.ref:
            typ, refers = "编码 code", f"{KINDS[col.ref].zh} {col.ref}"
        elif col.subject:
            typ, refers = "编码 code", "由认定对象类型决定 / the kind named by subject_kind"
        else:
            refers = ""
            py = python_type(spec, col.field)
            typ = {
                str: "文本 text",
                int: "整数 integer",
                float: "数字 number",
                bool: "是/否 yes/no",
                date: "日期 date 2024-01-05 / 2024/1/5 / 2024年1月5日",
                datetime: "时间 date-time 2024-01-05 09:30（无时区即北京时间 no offset = +08:00）",
            }.get(py, "取值 value")
            if isinstance(py, type) and issubclass(py, Enum):
                typ, allowed = (
                    "枚举 enum（代码或中文 code or label）",
                    " | ".join(labels.shown(py, m.value) for m in py),
                )
        out.append([col.zh, col.en, col.field, typ, "是 yes" if col.field in required else "", refers, allowed])
    out += [
        [],
        ["每行一个对象，按编码匹配：新编码新建，已有编码更新（只改不同的字段）；空单元格 = 空值（新建时取默认值）。"],
        ["One object per row, matched by code: a new code is created, a known one updated (changed fields only)."],
        ["References hold codes, not ids; lists are codes joined by ';'. Booleans: 是/否, ✓/×, true/false, 1/0."],
        ["表头可在标题行、说明行之下，可为两行合并表头；编码中的全角字符与多余空格会被规范化。"],
        ["Long numeric codes must be entered as text: Excel keeps only 15 digits of a number."],
        ["导入先用 dry-run 预览差异；有任何错误则整个文件都不写入。/ Dry-run first; any error writes nothing."],
    ]
    return out


def _matrix(kind: str, rows: list[dict[str, Any]], for_xlsx: bool) -> tuple[list[str], list[list[Any]]]:
    columns = file_columns(kind)
    headers = [c.header for c in columns]
    conv = _xlsx_cell if for_xlsx else _csv_cell
    return headers, [[conv(r.get(c.field)) for c in columns] for r in rows]


def _csv_cell(value: Any) -> str:
    text = cell_text(value)
    escape = isinstance(value, str) and (text.startswith(FORMULA_START) or quoted_formula(text))
    return "'" + text if escape else text


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, (bool, Enum, datetime, list, tuple)):
        return cell_text(value)
    if isinstance(value, str) and quoted_formula(value):
        return "'" + value  # reading drops one leading ' before = + - @: keep text that has one as it is
    return value


def write_csv_rows(kind: str, rows: list[dict[str, Any]]) -> bytes:
    """Export rows as UTF-8 CSV with Chinese headers."""
    headers, matrix = _matrix(kind, rows, for_xlsx=False)
    return write_csv(headers, matrix)


def write_xlsx_rows(kind: str, rows: list[dict[str, Any]]) -> bytes:
    """Export rows as XLSX: the data sheet with Chinese headers and the 说明 Notes sheet."""
    headers, matrix = _matrix(kind, rows, for_xlsx=True)
    return write_xlsx(kind, headers, matrix, notes(kind))


def export_file(session: Session, kind: str, fmt: str, units: frozenset[int] | None = None) -> bytes:
    """A kind (or a unit subtree of it) as a CSV or XLSX file that re-imports to no change."""
    rows = export_rows(session, kind, units)
    return write_xlsx_rows(kind, rows) if fmt == "xlsx" else write_csv_rows(kind, rows)


def template(kind: str, fmt: str) -> bytes:
    """A blank file for a kind: the header row (and, in XLSX, the 说明 Notes sheet)."""
    return write_xlsx_rows(kind, []) if fmt == "xlsx" else write_csv_rows(kind, [])
