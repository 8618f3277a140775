"""Import and export of inventory kinds as CSV/XLSX: codes for references, a dry-run diff, all-or-nothing apply.

A file has one header row (Chinese header, English header or field name) and one object per row, matched
to the store by `code`: a new code is created, a known one updated (only the fields that differ). Every
write goes through `inventory.service`, so domain rules, the write guard and the change log apply.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal

from sqlalchemy import Table, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from inventory import queries, service, times
from inventory.enums import SubjectKind
from inventory.errors import Forbidden, InventoryError, Problem, ValidationFailed
from inventory.kinds import KINDS, SUBJECT_KINDS, KindSpec
from inventory.schemas import create_schema
from inventory.service import ChangeContext
from inventory.spreadsheets import SourceTable, read_table, write_csv, write_xlsx

Action = Literal["create", "update", "unchanged", "error"]
Progress = Callable[[int, int], None]  # (rows written so far, rows to write)
CN_TZ = times.BEIJING  # naive times in files are Beijing time
TRUE_WORDS = frozenset({"是", "true", "1", "yes", "y", "t", "对"})
FALSE_WORDS = frozenset({"否", "false", "0", "no", "n", "f", "不是"})
LIST_SEPARATORS = (";", "；")
FORMULA_START = ("=", "+", "-", "@")  # CSV text starting so is written with a leading ' (spreadsheet injection)


# --- columns as files show them ---------------------------------------------------------------


@dataclass(frozen=True)
class FileColumn:
    """One spreadsheet column: the field it fills, its headers, and how its cells are read."""

    field: str
    zh: str
    en: str
    ref: str | None = None  # the cell holds a code of this kind
    link: str | None = None  # the cell holds codes of this kind joined by ';'
    subject: bool = False  # determinations: a code of the kind named by subject_kind
    aliases: tuple[str, ...] = ()

    @property
    def header(self) -> str:
        return self.zh


@cache
def file_columns(kind: str) -> tuple[FileColumn, ...]:
    """The columns of a kind's file, in order: its fields, then its link lists."""
    spec = KINDS[kind]
    cols: list[FileColumn] = []
    for c in spec.columns:
        if kind == "determinations" and c.field == "subject_id":
            cols.append(FileColumn("subject_id", "认定对象编码", "subject_code", subject=True, aliases=(c.zh, c.en)))
        else:
            cols.append(FileColumn(c.field, c.zh, c.en, ref=c.ref))
    cols += [FileColumn(lk.field, lk.zh, lk.en, link=lk.ref) for lk in spec.links]
    return tuple(cols)


def _norm(header: str) -> str:
    return header.replace("（", "(").replace("）", ")").replace(" ", "").replace("\u3000", "").lower()


def _header_map(kind: str) -> dict[str, FileColumn]:
    found: dict[str, FileColumn] = {}
    for col in file_columns(kind):
        for name in (col.zh, col.en, col.field, *col.aliases):
            found.setdefault(_norm(name), col)
    return found


@cache
def _column_type(kind: str, fld: str) -> Any:
    return inspect(KINDS[kind].model).columns[fld].type.python_type


def _python_type(spec: KindSpec, fld: str) -> Any:
    return _column_type(spec.name, fld)


@cache
def _columns_by_field(kind: str) -> dict[str, FileColumn]:
    return {c.field: c for c in file_columns(kind)}


def _nullable(spec: KindSpec, fld: str) -> bool:
    cols = inspect(spec.model).columns
    return fld not in cols or bool(cols[fld].nullable)


@cache
def required_fields(kind: str) -> tuple[str, ...]:
    """Fields a new object must have (the create schema's required ones)."""
    return tuple(name for name, f in create_schema(kind).model_fields.items() if f.is_required())


# --- reading cells -------------------------------------------------------------------------------


class CellError(ValueError):
    """A cell that cannot be read as its column's type; the message says what was expected."""


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "是" if raw else "否"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    text = str(raw).strip()
    return text or None


def _to_utc(value: datetime) -> datetime:
    return times.to_utc(value)


@cache
def _enum_values(typ: type[Enum]) -> dict[str, str]:
    return {str(m.value).lower(): str(m.value) for m in typ}


def read_cell(typ: Any, raw: Any) -> Any:
    """A cell as a typed value (None when empty); CellError when it does not fit the type."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if typ is str:
        text = _text(raw)
        return text[1:] if text and text.startswith("'") and text[1:].startswith(FORMULA_START) else text
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        word = str(_text(raw)).lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise CellError("应为 是/否 / expected yes/no (是/否, true/false, 1/0)")
    if typ is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).strip().replace(",", ""))
        except ValueError:
            raise CellError("应为整数 / expected an integer") from None
    if typ is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        try:
            return float(str(raw).strip().replace(",", ""))
        except ValueError:
            raise CellError("应为数字 / expected a number") from None
    if typ is datetime:
        if isinstance(raw, datetime):
            return _to_utc(raw)
        if isinstance(raw, date):
            return _to_utc(datetime(raw.year, raw.month, raw.day))
        try:
            return _to_utc(datetime.fromisoformat(str(raw).strip().replace("/", "-")))
        except ValueError:
            raise CellError("应为时间 / expected a date-time like 2024-01-31T09:30:00+08:00") from None
    if typ is date:
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        try:
            return date.fromisoformat(str(raw).strip().replace("/", "-"))
        except ValueError:
            raise CellError("应为日期 / expected a date like 2024-01-31") from None
    if isinstance(typ, type) and issubclass(typ, Enum):
        value = _enum_values(typ).get(str(_text(raw)).lower())
        if value is None:
            raise CellError(f"应为以下值之一 / expected one of: {', '.join(str(m.value) for m in typ)}")
        return value
    return raw


def read_codes(raw: Any) -> list[str]:
    """A ';'-joined list of codes (full-width '；' too), blanks dropped, duplicates kept once."""
    text = _text(raw) or ""
    for sep in LIST_SEPARATORS[1:]:
        text = text.replace(sep, LIST_SEPARATORS[0])
    return list(dict.fromkeys(part.strip() for part in text.split(LIST_SEPARATORS[0]) if part.strip()))


# --- writing cells --------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A value as file text: 是/否, enum values, ISO dates, Beijing-time date-times, ';'-joined lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(CN_TZ).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATORS[0].join(str(v) for v in value)
    return str(value)


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, (bool, Enum, datetime, list, tuple)):
        return cell_text(value)
    return value


# --- the report ------------------------------------------------------------------------------------


@dataclass
class RowResult:
    """What an import does (or would do) with one row of the file."""

    row: int
    code: str | None
    action: Action
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # field → (before, after) as file text
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "code": self.code,
            "action": self.action,
            "changes": {k: {"before": b, "after": a} for k, (b, a) in self.changes.items()},
            "problems": [p.as_dict() for p in self.problems],
        }


@dataclass
class ImportReport:
    """The dry-run diff or the outcome of an import: one result per data row plus file-level problems."""

    kind: str
    dry_run: bool
    rows: list[RowResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.action != "error" for r in self.rows)

    @property
    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "unchanged": 0, "error": 0}
        for r in self.rows:
            out[r.action] += 1
        return out

    def all_problems(self) -> list[Problem]:
        return self.problems + [p for r in self.rows for p in r.problems]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "ok": self.ok,
            "counts": self.counts,
            "problems": [p.as_dict() for p in self.problems],
            "rows": [r.as_dict() for r in self.rows],
        }

    def error(self) -> ValidationFailed:
        """The report as one error (422) whose details name every row and field."""
        problems = self.all_problems()
        return ValidationFailed(
            f"import of {self.kind} failed: {len(problems)} problems; nothing was written / 导入失败，未写入任何数据",
            problems,
        )


# --- planning -------------------------------------------------------------------------------------


@dataclass
class _Row:
    result: RowResult
    values: dict[str, Any]  # typed; references as codes, links as code lists
    obj_id: int | None = None
    subject_target: str | None = None  # determinations: the kind subject_id's code belongs to


@dataclass
class _Plan:
    spec: KindSpec
    report: ImportReport
    rows: list[_Row]
    ids: dict[str, dict[str, int]]  # kind → code → id, for every code the file names
    progress: Progress | None = None
    done: int = 0
    total: int = 0

    def advance(self, n: int) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total)


def _problem(row: int, col: FileColumn | None, message: str, value: Any = None) -> Problem:
    where = f"{col.zh} ({col.en})" if col else ""
    text = f"row {row}, {where}: {message}" if col else f"row {row}: {message}"
    return Problem(text, field=col.field if col else None, row=row, value=value)


def _parse(spec: KindSpec, table: SourceTable, report: ImportReport) -> tuple[list[FileColumn | None], list[_Row]]:
    hmap = _header_map(spec.name)
    columns: list[FileColumn | None] = []
    seen: set[str] = set()
    for i, header in enumerate(table.headers, start=1):
        col = hmap.get(_norm(header)) if header else None
        if header and col is None:
            report.problems.append(
                Problem(f"row 1: unknown column {header!r} / 未知列名", field=header, row=1, value=header)
            )
        elif col is not None and col.field in seen:
            report.problems.append(
                Problem(f"row 1: column {header!r} appears twice / 列重复", field=col.field, row=1, value=header)
            )
            col = None
        elif not header and any(len(cells) >= i and _text(cells[i - 1]) for _, cells in table.rows):
            report.problems.append(Problem(f"row 1: column {i} has values but no header / 缺少列名", row=1))
        if col is not None:
            seen.add(col.field)
        columns.append(col)
    if "code" not in seen:
        code = next(c for c in file_columns(spec.name) if c.field == "code")
        report.problems.append(
            Problem(f"row 1: missing the code column {code.zh} ({code.en}) / 缺少编码列", field="code", row=1)
        )
    rows: list[_Row] = []
    for number, cells in table.rows:
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        result = RowResult(number, None, "create")
        if len(cells) != len(table.headers) and (table.format == "csv" or len(cells) > len(table.headers)):
            result.problems.append(
                _problem(
                    number, None, f"has {len(cells)} cells but the header has {len(table.headers)} / 列数与表头不一致"
                )
            )
        values: dict[str, Any] = {}
        for col, raw in zip(columns, cells, strict=False):
            if col is None:
                continue
            try:
                if col.link:
                    values[col.field] = read_codes(raw)
                elif col.ref or col.subject:
                    values[col.field] = _text(raw)
                else:
                    values[col.field] = read_cell(_python_type(spec, col.field), raw)
            except CellError as exc:
                result.problems.append(_problem(number, col, f"{raw!r}: {exc}", _text(raw)))
        for col in columns[len(cells) :]:
            if col is not None:
                values.setdefault(col.field, [] if col.link else None)
        result.code = values.get("code")
        rows.append(_Row(result, values))
    return columns, rows


def _ids_for(session: Session, kind: str, codes: Iterable[str]) -> dict[str, int]:
    model: Any = KINDS[kind].model
    wanted = sorted(set(codes))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 900):
        part = wanted[start : start + 900]
        found.update({c: i for c, i in session.execute(select(model.code, model.id).where(model.code.in_(part)))})
    return found


def _subject_kind(row: _Row, current: dict[str, Any] | None) -> str | None:
    raw = row.values.get("subject_kind") or (current or {}).get("subject_kind")
    try:
        return SUBJECT_KINDS.get(SubjectKind(str(raw))) if raw else None
    except ValueError:
        return None


def _resolve_refs(session: Session, plan: _Plan, columns: list[FileColumn], current: dict[str, dict[str, Any]]) -> None:
    """Look every referenced code up once per kind; codes of new rows in the same file count as known."""
    wanted: dict[str, set[str]] = {}
    for r in plan.rows:
        for col in columns:
            value = r.values.get(col.field)
            target = (
                col.ref or col.link or (_subject_kind(r, current.get(r.result.code or "")) if col.subject else None)
            )
            if target and value:
                wanted.setdefault(target, set()).update(value if isinstance(value, list) else [value])
    for kind, codes in wanted.items():
        plan.ids.setdefault(kind, {}).update(_ids_for(session, kind, codes))
    in_file = {r.result.code for r in plan.rows if r.result.code}
    for r in plan.rows:
        for col in columns:
            value = r.values.get(col.field)
            if col.subject:
                target = r.subject_target = _subject_kind(r, current.get(r.result.code or ""))
                if value and target is None:
                    r.result.problems.append(
                        _problem(r.result.row, col, "needs a valid subject_kind / 需要认定对象类型")
                    )
                    continue
            else:
                target = col.ref or col.link
            if not target or not value:
                continue
            for code in value if isinstance(value, list) else [value]:
                if col.ref == plan.spec.name and code == r.result.code and code not in plan.ids[target]:
                    r.result.problems.append(_problem(r.result.row, col, "a row cannot refer to itself / 不能引用自身"))
                    continue
                if code in plan.ids[target] or (target == plan.spec.name and code in in_file):
                    continue
                r.result.problems.append(
                    _problem(r.result.row, col, f"unknown {target} code {code!r} / 引用的编码不存在", code)
                )


def _prepare(session: Session, kind: str, table: SourceTable, dry_run: bool) -> _Plan:
    spec = KINDS[kind]
    report = ImportReport(kind, dry_run)
    parsed_columns, rows = _parse(spec, table, report)
    columns = [c for c in parsed_columns if c is not None]
    plan = _Plan(spec, report, rows, {})
    report.rows = [r.result for r in rows]
    first: dict[str, int] = {}
    for r in rows:
        code = r.result.code
        if code is None:
            continue
        if code in first:
            col = next(c for c in columns if c.field == "code")
            r.result.problems.append(
                _problem(r.result.row, col, f"duplicate code {code!r}, also in row {first[code]} / 编码重复", code)
            )
        else:
            first[code] = r.result.row
    existing = _ids_for(session, kind, first)
    plan.ids[kind] = dict(existing)
    current = {row["code"]: row for row in export_rows(session, kind, ids=list(existing.values()))}
    _resolve_refs(session, plan, columns, current)
    present = {c.field for c in columns}
    missing = [f for f in required_fields(kind) if f not in present]
    by_field = {c.field: c for c in file_columns(kind)}
    for r in rows:
        res = r.result
        if res.code is None and not any(p.field == "code" for p in res.problems) and "code" in present:
            res.problems.append(_problem(res.row, by_field["code"], "code is required / 编码必填"))
        if res.code in existing:
            r.obj_id = existing[res.code]
            before = current[res.code]
            for col in columns:
                new, old = r.values.get(col.field), before.get(col.field)
                if _same(new, old):
                    continue
                if new is None and not _nullable(spec, col.field):
                    res.problems.append(_problem(res.row, col, "cannot be empty / 不能为空"))
                res.changes[col.field] = (cell_text(old), cell_text(new))
            res.action = "update" if res.changes else "unchanged"
        else:
            for fld in missing:
                res.problems.append(_problem(res.row, by_field[fld], "required column is missing / 缺少必填列"))
            for col in columns:
                if col.field == "code":
                    continue
                if r.values.get(col.field) not in (None, []):
                    res.changes[col.field] = ("", cell_text(r.values[col.field]))
                elif col.field in required_fields(kind):
                    res.problems.append(_problem(res.row, col, "required / 必填"))
            res.action = "create"
        if res.problems:
            res.action = "error"
    return plan


def _same(new: Any, old: Any) -> bool:
    if isinstance(new, list) or isinstance(old, list):
        return sorted(new or []) == sorted(old or [])
    if isinstance(new, datetime) and isinstance(old, datetime):
        return _to_utc(new) == (old if old.tzinfo else old.replace(tzinfo=UTC))
    if isinstance(old, Enum):
        old = old.value
    return bool(new == old)


# --- applying -------------------------------------------------------------------------------------


def _data(plan: _Plan, r: _Row, fields: Iterable[str], deferred: Collection[str] = ()) -> dict[str, Any]:
    """The service payload for a row: codes replaced by ids (links to `deferred` codes left out)."""
    by_field = _columns_by_field(plan.spec.name)
    data: dict[str, Any] = {}
    for fld in fields:
        col, value = by_field[fld], r.values.get(fld)
        if col.link:
            data[fld] = [plan.ids[col.link][c] for c in value or [] if c not in deferred]
        elif (col.ref or col.subject) and value is not None:
            target = col.ref or r.subject_target or ""
            data[fld] = plan.ids[target][value]
        else:
            data[fld] = value
    return data


def _remap(exc: InventoryError, batch: Sequence[_Row]) -> list[Problem]:
    out = []
    for p in exc.problems or [Problem(exc.message)]:
        number = batch[p.row].result.row if p.row is not None and 0 <= p.row < len(batch) else None
        out.append(replace(p, row=number, message=f"row {number}: {p.message}" if number else p.message))
    return out


def _same_kind_refs(plan: _Plan, r: _Row, new: Collection[str]) -> tuple[set[str], set[str]]:
    """Codes of new rows of the file this row points at: through columns (must wait) and through links."""
    cols: set[str] = set()
    links: set[str] = set()
    for col in file_columns(plan.spec.name):
        value = r.values.get(col.field)
        if col.ref == plan.spec.name and isinstance(value, str) and value in new and value != r.result.code:
            cols.add(value)
        if col.link == plan.spec.name:
            links.update(c for c in value or [] if c in new)
    return cols, links


def _create_rows(session: Session, plan: _Plan, ctx: ChangeContext) -> list[Problem]:
    """Create the new rows in dependency layers (rows they refer to first); break link cycles by patching later."""
    kind = plan.spec.name
    pending = {r.result.code: r for r in plan.rows if r.result.action == "create" and r.result.code}
    waits = {code: _same_kind_refs(plan, r, pending) for code, r in pending.items()}
    patches: list[tuple[_Row, str]] = []
    while pending:
        layer: list[tuple[_Row, set[str]]] = [
            (r, set()) for code, r in pending.items() if not (waits[code][0] | waits[code][1]) & pending.keys()
        ]
        if not layer:  # a cycle: create rows whose only waits are link lists, without those links
            layer = [(r, waits[c][1] & pending.keys()) for c, r in pending.items() if not waits[c][0] & pending.keys()]
        if not layer:
            return [
                _problem(r.result.row, None, "circular reference between rows of the file / 文件内循环引用")
                for r in pending.values()
            ]
        batch = [r for r, _ in layer]
        payload = [_data(plan, r, [f for f in r.values if r.values[f] not in (None, [])], later) for r, later in layer]
        try:
            ids = service.create_many(session, kind, payload, ctx)
        except Forbidden as exc:
            raise Forbidden(exc.message, _remap(exc, batch)) from None
        except InventoryError as exc:
            return _remap(exc, batch)
        plan.advance(len(ids))
        for (r, later), obj_id in zip(layer, ids, strict=True):
            r.obj_id = obj_id
            plan.ids[kind][r.result.code or ""] = obj_id
            del pending[r.result.code or ""]
            if later:
                patches += [(r, lk.field) for lk in plan.spec.links if lk.ref == kind]
    problems: list[Problem] = []
    for r, fld in patches:
        problems += _update_row(session, plan, r, [fld], ctx)
    return problems


def _update_row(session: Session, plan: _Plan, r: _Row, fields: Sequence[str], ctx: ChangeContext) -> list[Problem]:
    assert r.obj_id is not None
    try:  # service.update raises before it changes anything, so no savepoint per row is needed
        service.update(session, plan.spec.name, r.obj_id, _data(plan, r, fields), ctx, row=0)
    except Forbidden as exc:
        raise Forbidden(exc.message, _remap(exc, [r])) from None
    except InventoryError as exc:
        return _remap(exc, [r])
    return []


def _preload(session: Session, plan: _Plan, rows: list[_Row]) -> list[Any]:
    """Load the objects to update (with their link lists) and those they will point at, a chunk per query.

    The session holds loaded objects weakly, so the caller keeps the returned list while it updates.
    """
    wanted: dict[str, set[int]] = {plan.spec.name: {r.obj_id for r in rows if r.obj_id is not None}}
    by_field = _columns_by_field(plan.spec.name)
    for r in rows:
        for fld, value in _data(plan, r, list(r.result.changes)).items():
            target = by_field[fld].ref or by_field[fld].link or (r.subject_target if by_field[fld].subject else None)
            if target and value is not None:
                wanted.setdefault(target, set()).update(value if isinstance(value, list) else [value])
    keep: list[Any] = []
    for kind in dict.fromkeys([plan.spec.name, *wanted, "clouds"]):
        spec = KINDS[kind]
        model: Any = spec.model
        if kind == "clouds" and plan.spec.name == "systems":  # check_rules reads each system's cloud
            wanted.setdefault(kind, set()).update(c for o in keep if (c := getattr(o, "cloud_id", None)) is not None)
        ordered = sorted(i for i in wanted.get(kind, ()) if i is not None)
        # Self-referencing link lists (a system's dependencies) are not eager-loaded unless asked for.
        links = [selectinload(getattr(model, lk.relationship)) for lk in spec.links]
        for start in range(0, len(ordered), 900):
            part = ordered[start : start + 900]
            keep += session.scalars(select(model).options(*links).where(model.id.in_(part))).all()
    return keep


def _execute(session: Session, plan: _Plan, ctx: ChangeContext) -> list[Problem]:
    problems = _create_rows(session, plan, ctx)
    if problems:
        return problems
    updates = [r for r in plan.rows if r.result.action == "update"]
    loaded = _preload(session, plan, updates)
    for r in updates:
        problems += _update_row(session, plan, r, list(r.result.changes), ctx)
        plan.advance(1)
    del loaded  # held until every update is done
    return problems


def _run(
    session: Session, kind: str, table: SourceTable, ctx: ChangeContext, dry_run: bool, progress: Progress | None
) -> ImportReport:
    if kind not in KINDS:
        raise ValidationFailed(f"unknown kind {kind!r}", [Problem("unknown kind", field="kind", value=kind)])
    plan = _prepare(session, kind, table, dry_run)
    plan.progress = progress
    plan.total = sum(r.result.action in ("create", "update") for r in plan.rows)
    report = plan.report
    if not report.ok:
        return report
    savepoint = session.begin_nested()
    try:
        problems = _execute(session, plan, ctx)
    except IntegrityError as exc:  # a constraint the service does not pre-check (e.g. unit+node pairs)
        problems = [Problem(f"the database refused the rows: {str(exc.orig)[:200]} / 数据库约束冲突")]
    except BaseException:
        savepoint.rollback()
        raise
    if problems or dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
        report.applied = True
    by_row = {r.row: r for r in report.rows}
    for p in problems:
        target = by_row.get(p.row) if p.row is not None else None
        if target is None:
            report.problems.append(p)
        else:
            target.problems.append(p)
            target.action = "error"
    return report


def plan_import(
    session: Session,
    kind: str,
    table: SourceTable,
    ctx: ChangeContext | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """The dry run: what importing the file would create, update or leave, and every error; nothing is kept.

    The writes are tried inside a savepoint that is always rolled back, so rules and the guard are checked too.
    """
    return _run(session, kind, table, ctx or ChangeContext(actor="dry-run"), True, progress)


def apply_import(
    session: Session, kind: str, table: SourceTable, ctx: ChangeContext, progress: Progress | None = None
) -> ImportReport:
    """Import all rows or none: on any problem everything is rolled back and the report lists all of them.

    The caller commits when `report.applied`; Forbidden (the write guard) propagates after the rollback.
    """
    return _run(session, kind, table, ctx, False, progress)


def import_file(
    session: Session,
    kind: str,
    data: bytes,
    filename: str | None,
    ctx: ChangeContext,
    dry_run: bool,
    max_bytes: int | None = None,
) -> ImportReport:
    """Read an uploaded file (size-checked first) and plan or apply it."""
    table = read_table(data, filename, max_bytes)
    return plan_import(session, kind, table, ctx) if dry_run else apply_import(session, kind, table, ctx)


# --- export and templates ------------------------------------------------------------------------


def export_rows(
    session: Session, kind: str, units: frozenset[int] | None = None, ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Every object of a kind (or of a unit subtree, or with these ids) as file values: codes for references."""
    spec = KINDS[kind]
    table: Any = spec.model.__table__  # type: ignore[attr-defined]
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
            py = _python_type(spec, col.field)
            typ = {
                str: "文本 text",
                int: "整数 integer",
                float: "数字 number",
                bool: "是/否 yes/no",
                date: "日期 date YYYY-MM-DD",
                datetime: "时间 date-time ISO 8601 (default +08:00)",
            }.get(py, "取值 value")
            if isinstance(py, type) and issubclass(py, Enum):
                typ, allowed = "枚举 enum", " | ".join(str(m.value) for m in py)
        out.append([col.zh, col.en, col.field, typ, "是 yes" if col.field in required else "", refers, allowed])
    out += [
        [],
        ["每行一个对象，按编码匹配：新编码新建，已有编码更新（只改不同的字段）；空单元格 = 空值（新建时取默认值）。"],
        ["One object per row, matched by code: a new code is created, a known one updated (changed fields only)."],
        ["References hold codes, not ids; lists are codes joined by ';'. Booleans: 是/否, true/false, 1/0, yes/no."],
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
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_START) else text


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
