"""Response models of the import route (the export and template routes return files)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from core.responses import ProblemOut


class FieldChange(BaseModel):
    """A field's value before and after, as file text."""

    before: str
    after: str


class ImportRowOut(BaseModel):
    """What the import does (or would do) with one data row."""

    row: int
    code: str | None
    action: Literal["create", "update", "unchanged", "error"]
    changes: dict[str, FieldChange]
    problems: list[ProblemOut]
    notices: list[ProblemOut]


class ImportCounts(BaseModel):
    create: int
    update: int
    unchanged: int
    error: int


class ImportReportOut(BaseModel):
    """The dry-run diff or the outcome of an import (the 422 body carries it too, under `report`)."""

    kind: str
    dry_run: bool
    applied: bool
    ok: bool
    header_rows: list[int] | None
    header_note: str | None
    counts: ImportCounts
    problems: list[ProblemOut]
    rows: list[ImportRowOut]
