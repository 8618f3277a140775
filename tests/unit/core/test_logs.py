"""The service's log handler writes to stderr as it is at each record, redacted."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from core import logs


def test_records_follow_stderr_after_the_first_stream_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", first)  # e.g. a CLI command run under a test runner's capture
        logs.configure("INFO")
        logging.getLogger("yunwang.test").info("one")
        first.close()
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("yunwang.test").info("two password=hunter2-secret")  # a scheduler thread, later
        text = second.getvalue()
        assert "yunwang.test: two" in text and "hunter2-secret" not in text
        assert "Logging error" not in text and "closed file" not in text
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
