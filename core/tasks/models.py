"""The job row of a background task (core.tasks): one row per submitted task, its status, attempts and result.

The row is the truth: a task message (in-process queue or the broker) carries only the job id; the worker
claims the row (queued → running, attempts + 1) in a write transaction before doing anything, so a redelivered
message whose job already finished does nothing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, enum_type


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = (TaskStatus.SUCCEEDED, TaskStatus.FAILED)


class TaskJob(Base):
    """One background task: what (name, payload), where (queue), who asked, its status and outcome."""

    __tablename__ = "task_jobs"
    __table_args__ = (
        Index("ix_task_jobs_subject", "subject"),
        Index("ix_task_jobs_created", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # = the Celery task id
    name: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(100))  # what it works on, e.g. resource_requests:12
    requested_by: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[TaskStatus] = mapped_column(enum_type(TaskStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # redacted
    worker: Mapped[str | None] = mapped_column(String(200))  # host:pid of the last claim
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskFile(Base):
    """A file a job works on or made: the upload of an import (`input`) or a generated report (`result`).

    Kept in the database beside its job, so a worker on another machine reads the same bytes and the job and its
    upload are written in one transaction (nothing half-submitted)."""

    __tablename__ = "task_files"
    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)  # input | result
    filename: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
