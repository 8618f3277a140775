"""Logging set-up with a filter that redacts secrets from every record (patterns: `core.redaction`)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from core.redaction import redact


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to `sys.stderr` as it is when a record is emitted. A plain StreamHandler keeps the stream it was made
    with: a command run under a test runner's captured stderr left later records (scheduler threads) writing to a
    closed file ("I/O operation on closed file" in the suite's output)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class RedactingFilter(logging.Filter):
    """Formats the message once and masks secrets in it (args included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def configure(level: str = "INFO") -> None:
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
