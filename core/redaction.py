"""The one set of secret patterns: what is masked in error bodies (`core.errors`), log records (`core.logs`)
and job errors (`core.jobs`) alike, so that a token hidden in one place is hidden in all of them."""

from __future__ import annotations

import re

SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # An API token (yw_ and at least 8 more characters; issued tokens are far longer).
    (re.compile(r"yw_[A-Za-z0-9_\-]{8,}"), "yw_***"),
    # key=value / key: value pairs whose key names a secret.
    (re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"), r"\1\2***"),
    (re.compile(r"(?i)(authorization:\s*bearer\s+)\S+"), r"\1***"),
)


def redact(text: str) -> str:
    """Mask anything that looks like a token, password or key."""
    for pattern, repl in SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text
