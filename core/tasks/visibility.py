"""Who may see a background job: the one rule, used by every route that shows a job (`GET /api/v1/tasks…`, a
request's jobs, the probe jobs).

- whoever asked for the job sees it;
- a job working on a subject (`resource_requests:12`) is seen by whoever may read that subject — the subject's
  package registers how (`read_subject("resource_requests", reader)`), so the task layer needs no domain rule;
- any other job (a probe sweep, an import, a report) is seen by the unscoped roles; a scoped role (a unit's user,
  a sub-cloud chief) sees only its own.

Which roles reach those routes at all is the permission table's (orchestrator/app/permission_table.py).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from core.identity import Principal

SubjectReader = Callable[[Session, Principal, str], bool]  # (session, caller, the subject's id) → may read it
_READERS: dict[str, SubjectReader] = {}


def read_subject(kind: str, reader: SubjectReader) -> None:
    """Declare who may read the subjects `kind:<id>` (the jobs working on them follow)."""
    _READERS[kind] = reader


def subject_kinds() -> tuple[str, ...]:
    return tuple(_READERS)


def may_see(session: Session, p: Principal, requested_by: str | None, subject: str | None) -> bool:
    """The one rule (module docstring)."""
    if requested_by is not None and requested_by == p.name:
        return True
    kind, _, key = (subject or "").partition(":")
    reader = _READERS.get(kind) if subject else None
    if reader is not None:
        return reader(session, p, key)
    return not p.scoped
