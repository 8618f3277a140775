"""The columns of a kind's file and finding its header: which header names which field, and where the header row is.

A header is matched by its Chinese header, English header, field name or an alias, compared full-width folded,
without spaces, line breaks, '*' or a trailing '(必填)'. Title rows, notes and blank rows may come before it;
a merged two-row header (a group title over sub-columns) is read as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import zip_longest
from typing import Any
from unicodedata import normalize

from sqlalchemy import inspect

from inventory.io.cells import text_or_none
from inventory.kinds import KINDS, KindSpec
from inventory.schemas import create_schema

HEADER_SEARCH_ROWS = 30  # the header row is looked for among the first rows of the sheet


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


def norm(header: str) -> str:
    """A header as compared: full-width folded, spaces, line breaks, '*' and a trailing '(必填)' removed."""
    text = "".join(normalize("NFKC", header).split()).replace("*", "").lower()
    return text.removesuffix("(必填)").removesuffix("(required)")


def header_map(kind: str) -> dict[str, FileColumn]:
    found: dict[str, FileColumn] = {}
    for col in file_columns(kind):
        for name in (col.zh, col.en, col.field, *col.aliases):
            found.setdefault(norm(name), col)
    return found


@cache
def column_type(kind: str, fld: str) -> Any:
    return inspect(KINDS[kind].model).columns[fld].type.python_type


def python_type(spec: KindSpec, fld: str) -> Any:
    return column_type(spec.name, fld)


@cache
def columns_by_field(kind: str) -> dict[str, FileColumn]:
    return {c.field: c for c in file_columns(kind)}


def nullable(spec: KindSpec, fld: str) -> bool:
    cols = inspect(spec.model).columns
    return fld not in cols or bool(cols[fld].nullable)


@cache
def required_fields(kind: str) -> tuple[str, ...]:
    """Fields a new object must have (the create schema's required ones)."""
    return tuple(name for name, f in create_schema(kind).model_fields.items() if f.is_required())


def blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not text_or_none(c)) for c in cells)


def header_cell(cell: Any) -> str:
    return "" if cell is None or not isinstance(cell, str | int | float) else str(cell).strip()


def hits(hmap: dict[str, FileColumn], cells: Sequence[Any]) -> int:
    return sum(1 for c in cells if (h := header_cell(c)) and norm(h) in hmap)


def merge_headers(hmap: dict[str, FileColumn], upper: Sequence[Any], lower: Sequence[Any]) -> list[str]:
    """Two header rows as one: a merged cell has its text only in its first row, so the other one is empty."""
    out = []
    for up, low in zip_longest(upper, lower):
        u, lo = header_cell(up), header_cell(low)
        out.append(lo if lo and (norm(lo) in hmap or norm(u) not in hmap) else u)
    return out


def code_index(hmap: dict[str, FileColumn], cells: Sequence[Any]) -> int | None:
    found = (i for i, c in enumerate(cells) if (col := hmap.get(norm(header_cell(c)))) and col.field == "code")
    return next(found, None)


def continues_header(hmap: dict[str, FileColumn], header: Sequence[Any], below: Sequence[Any]) -> bool:
    """Whether the row under the header is its second row (sub-columns), not the first data row.

    A data row always has a code; a second header row has none under the header's code column (that cell is
    merged with the one above), or names the code column itself.
    """
    if blank(below) or not hits(hmap, below):
        return False
    at = code_index(hmap, header)
    if at is None:
        return code_index(hmap, below) is not None
    return at >= len(below) or not header_cell(below[at])


@dataclass(frozen=True)
class Header:
    """Where a file's header is: its (merged) header texts, first and last file row, and the rows below it."""

    headers: list[str]
    rows: tuple[int, int]
    body: list[tuple[int, list[Any]]]


def locate(kind: str, rows: list[tuple[int, list[Any]]]) -> Header | None:
    """Find the header among the first rows (None when none of them names a column of the kind).

    The header is the row naming most of the kind's columns (the first such row on a tie); with a merged
    two-row header (a group title over sub-columns) the row below or above that also names columns is merged in.
    """
    hmap = header_map(kind)
    window = [(i, n, cells) for i, (n, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]) if not blank(cells)]
    scored = [(hits(hmap, cells), i) for i, _, cells in window]
    best = max(scored, key=lambda t: (t[0], -t[1]), default=(0, 0))
    if best[0] == 0:
        return None
    first = last = best[1]
    headers = [header_cell(c) for c in rows[first][1]]
    below = first + 1
    if below < len(rows) and continues_header(hmap, rows[first][1], rows[below][1]):
        headers, last = merge_headers(hmap, rows[first][1], rows[below][1]), below
    elif first > 0 and not blank(rows[first - 1][1]) and hits(hmap, rows[first - 1][1]):
        headers, first = merge_headers(hmap, rows[first - 1][1], rows[first][1]), first - 1
    return Header(headers, (rows[first][0], rows[last][0]), rows[last + 1 :])
