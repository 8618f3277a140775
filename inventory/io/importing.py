"""Import of inventory kinds from CSV/XLSX: codes for references, a dry-run diff, all-or-nothing apply.

A file has one header row (Chinese header, English header or field name) and one object per row, matched
to the store by `code`: a new code is created, a known one updated (only the fields that differ). Every
write goes through `inventory.service`, so domain rules, the write guard and the change log apply. Headers are
found by inventory.io.headers, cells read by inventory.io.cells; export is inventory.io.exporting.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core import pydantic_text
from core.audit import ChangeContext
from core.errors import AppError, Forbidden, NotFound, Problem, RuleViolation, ValidationFailed
from inventory import history, service
from inventory.enums import SubjectKind
from inventory.io import cells as cellread
from inventory.io.cells import (
    LIST_SEPARATORS,
    CellError,
    cell_text,
    read_cell,
    read_codes,
    text_or_none,
)
from inventory.io.cells import to_utc as _to_utc
from inventory.io.exporting import export_rows
from inventory.io.headers import (
    HEADER_SEARCH_ROWS,
    FileColumn,
    blank,
    columns_by_field,
    file_columns,
    header_map,
    locate,
    norm,
    nullable,
    python_type,
    required_fields,
)
from inventory.io.spreadsheets import SourceTable, read_table
from inventory.kinds import KINDS, SUBJECT_KINDS, KindSpec

Action = Literal["create", "update", "unchanged", "error"]
Progress = Callable[[int, int], None]  # (rows written so far, rows to write)


# --- the report ------------------------------------------------------------------------------------


@dataclass
class RowResult:
    """What an import does (or would do) with one row of the file."""

    row: int
    code: str | None
    action: Action
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # field → (before, after) as file text
    problems: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)  # what was normalised; never blocks the import

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "code": self.code,
            "action": self.action,
            "changes": {k: {"before": b, "after": a} for k, (b, a) in self.changes.items()},
            "problems": [p.as_dict() for p in self.problems],
            "notices": [p.as_dict() for p in self.notices],
        }


@dataclass
class ImportReport:
    """The dry-run diff or the outcome of an import: one result per data row plus file-level problems.

    File-level problems come first, most important first (no header row found, then the code column, then
    unknown columns); `header_rows` says which rows of the file were taken as the header.
    """

    kind: str
    dry_run: bool
    rows: list[RowResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    applied: bool = False
    header_rows: tuple[int, int] | None = None  # first and last file row of the header

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.action != "error" for r in self.rows)

    @property
    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "unchanged": 0, "error": 0}
        for r in self.rows:
            out[r.action] += 1
        return out

    @property
    def header_note(self) -> str | None:
        if self.header_rows is None:
            return None
        first, last = self.header_rows
        if first == last:
            return f"第{first}行作为表头 / row {first} taken as the header"
        return f"第{first}–{last}行作为表头（合并表头） / rows {first}–{last} taken as the header (merged)"

    def all_problems(self) -> list[Problem]:
        return self.problems + [p for r in self.rows for p in r.problems]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "ok": self.ok,
            "header_rows": list(self.header_rows) if self.header_rows else None,
            "header_note": self.header_note,
            "counts": self.counts,
            "problems": [p.as_dict() for p in self.problems],
            "rows": [r.as_dict() for r in self.rows],
        }

    def error(self) -> ValidationFailed:
        """The report as one error (422) whose details name every row and field, the most important first."""
        problems = self.all_problems()
        lead = f"{self.problems[0].message}; " if self.problems else ""
        return ValidationFailed(
            f"{lead}import of {self.kind} failed: {len(problems)} problems; nothing was written / 导入失败，未写入任何数据",
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
    folded: dict[str, dict[str, str]] = field(default_factory=dict)  # kind → folded code → stored code
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


def _locate_header(
    spec: KindSpec, table: SourceTable, report: ImportReport
) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Find the header (inventory.io.headers.locate); a problem on the report when there is none."""
    found = locate(spec.name, table.all_rows())
    if found is None:
        code = next(c for c in file_columns(spec.name) if c.field == "code")
        report.problems.append(
            Problem(
                f"未找到表头：前{HEADER_SEARCH_ROWS}行中没有一行含有{spec.zh}的列名（如 {code.zh}） / "
                f"header row not found: none of the first {HEADER_SEARCH_ROWS} rows names a column of {spec.name}",
                field="header",
                row=None,
            )
        )
        return [], []
    report.header_rows = found.rows
    return found.headers, found.body


def _as_written(raw: Any) -> str | None:
    """A code cell as the file holds it (text untouched; numbers as their digits), to tell what was normalised."""
    return raw if isinstance(raw, str) else text_or_none(raw)


def _read_value(spec: KindSpec, col: FileColumn, raw: Any, result: RowResult, epoch: date) -> Any:
    if col.link:
        codes = read_codes(raw)
        written = (_as_written(raw) or "").replace(LIST_SEPARATORS[1], LIST_SEPARATORS[0])
        parts = [p.strip(" ") for p in written.split(LIST_SEPARATORS[0])]  # spaces around ';' are layout
        for part in parts:
            value = cellread.code(part)
            if value is not None and part != value:
                result.notices.append(
                    _problem(result.row, col, f"编码已规范化 {part!r} → {value!r} / code normalised", value)
                )
        return codes
    if col.ref or col.subject or col.field == "code":
        # the code column and reference columns alike: any change (width, NBSP, ideographic or zero-width
        # spaces, spaces at the ends) is listed as a notice
        value = cellread.code(raw)
        shown = _as_written(raw)
        if value is not None and shown != value:
            result.notices.append(
                _problem(result.row, col, f"编码已规范化 {shown!r} → {value!r} / code normalised", value)
            )
        return value
    return read_cell(python_type(spec, col.field), raw, epoch)


def _parse(spec: KindSpec, table: SourceTable, report: ImportReport) -> tuple[list[FileColumn | None], list[_Row]]:  # noqa: C901 - header, then per-cell checks in file order
    headers, body = _locate_header(spec, table, report)
    if report.header_rows is None:
        return [], []
    hrow = report.header_rows[1]
    hmap = header_map(spec.name)
    columns: list[FileColumn | None] = []
    seen: set[str] = set()
    for i, header in enumerate(headers, start=1):
        col = hmap.get(norm(header)) if header else None
        if header and col is None:
            report.problems.append(
                Problem(f"row {hrow}: unknown column {header!r} / 未知列名", field=header, row=hrow, value=header)
            )
        elif col is not None and col.field in seen:
            report.problems.append(
                Problem(
                    f"row {hrow}: column {header!r} appears twice / 列重复", field=col.field, row=hrow, value=header
                )
            )
            col = None
        elif not header and any(len(cells) >= i and text_or_none(cells[i - 1]) for _, cells in body):
            report.problems.append(Problem(f"row {hrow}: column {i} has values but no header / 缺少列名", row=hrow))
        if col is not None:
            seen.add(col.field)
        columns.append(col)
    if "code" not in seen:
        code = next(c for c in file_columns(spec.name) if c.field == "code")
        report.problems.insert(
            0,
            Problem(f"row {hrow}: missing the code column {code.zh} ({code.en}) / 缺少编码列", field="code", row=hrow),
        )
    rows: list[_Row] = []
    for number, cells in body:
        if blank(cells):
            continue
        result = RowResult(number, None, "create")
        extra_blank = len(cells) > len(headers) and blank(cells[len(headers) :])
        if len(cells) != len(headers) and (table.format == "csv" or len(cells) > len(headers)) and not extra_blank:
            result.problems.append(
                _problem(number, None, f"has {len(cells)} cells but the header has {len(headers)} / 列数与表头不一致")
            )
        values: dict[str, Any] = {}
        for col, raw in zip(columns, cells, strict=False):
            if col is None:
                continue
            try:
                values[col.field] = _read_value(spec, col, raw, result, table.epoch)
            except CellError as exc:
                result.problems.append(_problem(number, col, f"{_shown_raw(raw)}: {exc}", text_or_none(raw)))
        for col in columns[len(cells) :]:
            if col is not None:
                values.setdefault(col.field, [] if col.link else None)
        result.code = values.get("code")
        rows.append(_Row(result, values))
    return columns, rows


def _shown_raw(raw: Any) -> str:
    return repr(raw) if not isinstance(raw, float) else f"{raw:.17g}"


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
                near = _near_code(session, plan, target, code)
                hint = f"; 仅全半角或大小写不同的已有编码 {near!r} / did you mean {near!r}?" if near else ""
                r.result.problems.append(
                    _problem(r.result.row, col, f"unknown {target} code {code!r} / 引用的编码不存在{hint}", code)
                )


def _folded_codes(session: Session, plan: _Plan, kind: str) -> dict[str, str]:
    """Every stored code of a kind by its folded form (width and case ignored), loaded once per import."""
    if kind not in plan.folded:
        model: Any = KINDS[kind].model
        plan.folded[kind] = {cellread.fold(c): c for c in session.scalars(select(model.code))}
    return plan.folded[kind]


def _near_code(session: Session, plan: _Plan, kind: str, code: str) -> str | None:
    """A stored code equal to `code` but for width or case (None when there is none)."""
    near = _folded_codes(session, plan, kind).get(cellread.fold(code))
    return near if near is not None and near != code else None


def _check_near_codes(session: Session, plan: _Plan, first: dict[str, int], existing: dict[str, int]) -> None:
    """A code differing from a stored one, or from another row's, only by width or case is an error, not new."""
    col = columns_by_field(plan.spec.name)["code"]
    seen: dict[str, tuple[str, int]] = {}
    for r in plan.rows:
        code = r.result.code
        if code is None:
            continue
        key = cellread.fold(code)
        other = seen.setdefault(key, (code, r.result.row))
        if other[0] != code:
            r.result.problems.append(
                _problem(
                    r.result.row,
                    col,
                    f"编码 {code!r} 与第{other[1]}行的编码 {other[0]!r} 仅全半角或大小写不同 / "
                    f"code differs from row {other[1]}'s only by width or case",
                    code,
                )
            )
        elif code not in existing and (near := _near_code(session, plan, plan.spec.name, code)):
            r.result.problems.append(
                _problem(
                    r.result.row,
                    col,
                    f"编码 {code!r} 与已有编码 {near!r} 仅全半角或大小写不同，不会新建；请使用已有编码 / "
                    f"code differs from the existing code {near!r} only by width or case; not created as new",
                    code,
                )
            )


def _prepare(session: Session, kind: str, table: SourceTable, dry_run: bool) -> _Plan:  # noqa: C901 - the import's steps in order, each short
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
    _check_near_codes(session, plan, first, existing)
    current = {row["code"]: row for row in export_rows(session, kind, ids=list(existing.values()))}
    _resolve_refs(session, plan, columns, current)
    present = {c.field for c in columns}
    missing = [f for f in required_fields(kind) if f not in present]
    by_field = {c.field: c for c in file_columns(kind)}
    for r in rows:
        res = r.result
        refused = {c.field for c in columns if c.field not in r.values}  # refused cells: no second problem
        if res.code is None and not any(p.field == "code" for p in res.problems) and "code" in present:
            res.problems.append(_problem(res.row, by_field["code"], "code is required / 编码必填"))
        if res.code in existing:
            r.obj_id = existing[res.code]
            before = current[res.code]
            for col in columns:
                new, old = r.values.get(col.field), before.get(col.field)
                if col.field in refused or _same(new, old):
                    continue
                if new is None and not nullable(spec, col.field):
                    res.problems.append(_problem(res.row, col, "cannot be empty / 不能为空"))
                res.changes[col.field] = (cell_text(old), cell_text(new))
            res.action = "update" if res.changes else "unchanged"
        else:
            for fld in missing:
                res.problems.append(_problem(res.row, by_field[fld], "required column is missing / 缺少必填列"))
            for col in columns:
                if col.field == "code" or col.field in refused:
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
    by_field = columns_by_field(plan.spec.name)
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


RULES_ZH: dict[str, str] = {  # domain rules (inventory.service.check_rules) in Chinese, by their English text
    "a classified system can never be migrated to the cloud": "涉密系统不得迁移上云",
    "a classified system can never be hosted on a cloud": "涉密系统不得部署在云上",
    "a classified system can never get a cloud placement": "涉密系统不得指定所在云",
    "hosting on a cloud needs cloud_id": "部署在云上须填写所在云编码",
    "cloud_id is only for systems hosted on a cloud": "只有部署在云上的系统才填写所在云编码",
    "hosting in a room needs room_id": "部署在机房须填写所在机房编码",
    "a migrated system must be hosted on the gov cloud or a sub-cloud": "已迁移的系统须部署在政务云或子云上",
    "a system cannot depend on itself": "系统不能依赖自身",
    "a system cannot replace itself": "系统不能替代自身",
    "a classified network can never be moved onto the extranet": "涉密专网不得迁移或打通到电子政务外网",
    "an exemption needs a reason": "豁免须写明理由",
    "parent would make a cycle": "上级关系形成循环",
    "cloud ": "所在云的类型与部署方式不符",
    "a ": "层级不能高于或等于上级",
}


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _rule_text(kind: str, code: str | None, message: str) -> str:
    """A domain-rule message Chinese first, naming the object by its code."""
    spec = KINDS[kind]
    who_zh, who_en = f"{spec.zh} {code}" if code else spec.zh, f"{kind} {code}" if code else kind
    if _has_cjk(message):
        return f"{who_zh}：{message}"
    zh = RULES_ZH.get(message) or next(
        (v for k, v in RULES_ZH.items() if k.endswith(" ") and message.startswith(k)), "违反业务规则"
    )
    return f"{who_zh}：{zh} / {who_en}: {message}"


CHECKS_ZH: dict[str, str] = {  # the service's own English-only checks, in Chinese
    "cannot be empty": "不能为空",
    "duplicate code": "编码重复",
}


def _cell_text(kind: str, number: int, fld: str | None, message: str) -> str | None:
    """A validation problem of one cell, Chinese first naming the column's header:
    `第10行「vCPU数」：应大于或等于 0 / row 10 (vcpus): must be ≥ 0` (None when the field is no file column)."""
    col = columns_by_field(kind).get(fld or "")
    if col is None:
        return None
    zh, en = pydantic_text.split(message)
    if zh == pydantic_text.FALLBACK_ZH:
        zh = next((v for k, v in CHECKS_ZH.items() if message.startswith(k)), zh)
    return f"第{number}行「{col.zh}」：{zh} / row {number} ({col.en}): {en}"


def _remap(exc: AppError, batch: Sequence[_Row], kind: str) -> list[Problem]:
    """The service's problems (row = index in the batch) as problems of file rows, in the report's wording."""
    out = []
    rules = isinstance(exc, RuleViolation)
    cells = isinstance(exc, ValidationFailed)  # pydantic and the service's checks of single values
    for p in exc.problems or [Problem(exc.message)]:
        r = batch[p.row] if p.row is not None and 0 <= p.row < len(batch) else None
        number = r.result.row if r is not None else None
        if cells and number is not None and (text := _cell_text(kind, number, p.field, p.message)):
            out.append(replace(p, row=number, message=text))
            continue
        text = _rule_text(kind, r.result.code if r else None, p.message) if rules else p.message
        out.append(replace(p, row=number, message=f"row {number}: {text}" if number else text))
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
            raise Forbidden(exc.message, _remap(exc, batch, kind)) from None
        except AppError as exc:
            return _remap(exc, batch, kind)
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
        raise Forbidden(exc.message, _remap(exc, [r], plan.spec.name)) from None
    except NotFound:  # the write guard hides another unit's object; the file named it by code, so say why plainly
        problem = Problem("outside your unit subtree / 不在本单位及下级单位范围内", field="code", value=r.result.code)
        raise Forbidden(f"{plan.spec.name} {r.result.code} is outside your unit subtree", [problem]) from None
    except AppError as exc:
        return _remap(exc, [r], plan.spec.name)
    return []


def _preload(session: Session, plan: _Plan, rows: list[_Row]) -> list[Any]:
    """Load the objects to update (with their link lists) and those they will point at, a chunk per query.

    The session holds loaded objects weakly, so the caller keeps the returned list while it updates.
    """
    wanted: dict[str, set[int]] = {plan.spec.name: {r.obj_id for r in rows if r.obj_id is not None}}
    by_field = columns_by_field(plan.spec.name)
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


def _with_history(ctx: ChangeContext, plan: _Plan) -> ChangeContext:
    """By default the objects a file creates are on record since the earliest status date it gives."""
    eff = history.EFFECTIVE.get(plan.spec.name)
    if ctx.at is not None or ctx.history_since is not None or eff is None:
        return ctx
    dates = [m for r in plan.rows if r.result.action == "create" and (m := history.moment(r.values.get(eff.stamp)))]
    return replace(ctx, history_since=min(dates)) if dates else ctx


def _trial_rows(plan: _Plan) -> list[_Row]:
    """Rows without cell errors, minus those pointing at new codes of rows with errors (transitively)."""
    kind = plan.spec.name
    bad = {c for r in plan.rows if r.result.action == "error" and (c := r.result.code) and c not in plan.ids[kind]}
    good = [r for r in plan.rows if r.result.action != "error"]
    while True:
        blocked = [r for r in good if set().union(*_same_kind_refs(plan, r, bad))]
        if not blocked:
            return good
        bad |= {c for r in blocked if (c := r.result.code)}
        gone = {id(r) for r in blocked}
        good = [r for r in good if id(r) not in gone]


def _rules_of_error_rows(session: Session, plan: _Plan, erring: list[_Row]) -> list[Problem]:
    """Domain rules of rows that have cell errors, over the cells that could be read (and references known)."""
    by_field = columns_by_field(plan.spec.name)
    out: list[Problem] = []
    for r in erring:
        result = r.result
        if result.code is None:
            continue
        failed = {p.field for p in result.problems}
        if "code" in failed:
            continue
        fields = []
        for fld, value in r.values.items():
            col = by_field[fld]
            target = col.ref or col.link or (r.subject_target if col.subject else None)
            codes = value if isinstance(value, list) else [value] if value is not None else []
            if fld in failed or fld == "code" or (target and any(c not in plan.ids.get(target, {}) for c in codes)):
                continue
            fields.append(fld)
        if plan.spec.name == "determinations" and "subject_id" not in fields:
            continue  # the subject rule needs a known subject
        data = _data(plan, r, fields)
        try:
            found = service.rule_problems(session, plan.spec.name, data, r.obj_id, 0)
        except AppError:
            continue
        found = [p for p in found if p.field in fields]
        if found:
            out += _remap(RuleViolation("rules", found), [r], plan.spec.name)
    return out


def _run(
    session: Session, kind: str, table: SourceTable, ctx: ChangeContext, dry_run: bool, progress: Progress | None
) -> ImportReport:
    if kind not in KINDS:
        raise ValidationFailed(f"unknown kind {kind!r}", [Problem("unknown kind", field="kind", value=kind)])
    plan = _prepare(session, kind, table, dry_run)
    ctx = _with_history(ctx, plan)
    plan.progress = progress
    plan.total = sum(r.result.action in ("create", "update") for r in plan.rows)
    report = plan.report
    # With errors in some rows the others are still tried (and always rolled back), so that their domain
    # rules are reported too: the dry run names every problem of every row at once.
    trial = not report.ok
    if trial:
        if report.header_rows is None or any(p.field == "code" for p in report.problems):
            return report
        tried = _trial_rows(plan)
        kept = {id(r) for r in tried}
        erring = [r for r in plan.rows if id(r) not in kept]  # rows with errors and rows pointing at them
        plan = replace(plan, rows=tried)
    savepoint = session.begin_nested()
    try:
        problems = _execute(session, plan, ctx)
    except IntegrityError as exc:  # a constraint the service does not pre-check (e.g. unit+node pairs)
        problems = [Problem(f"the database refused the rows: {str(exc.orig)[:200]} / 数据库约束冲突")]
    except BaseException:
        savepoint.rollback()
        raise
    if trial:
        problems += _rules_of_error_rows(session, plan, erring)
    if problems or dry_run or trial:
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
