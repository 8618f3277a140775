"""Logging set-up with a filter that redacts secrets from every record (patterns: `core.redaction`)."""

from __future__ import annotations

import logging

from core.redaction import redact


class RedactingFilter(logging.Filter):
    """Formats the message once and masks secrets in it (args included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
