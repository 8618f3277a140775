"""The one set of secret patterns: what is masked in error bodies (`core.errors`), log records (`core.logs`)
and job errors (`core.jobs`) alike, so that a token hidden in one place is hidden in all of them."""

from __future__ import annotations

import re

# Names of fields and keys that hold secrets: device passwords, SNMP communities and v3 keys, tokens, API keys,
# browser sessions (the session and CSRF cookies, cookie headers) and single sign-on (client secret, PKCE verifier).
SECRET_NAMES = (
    r"password|passwd|secret|community|token|auth_key|priv_key|passphrase|api[_-]?key"
    r"|yw_session|yw_csrf|csrf|cookie|code_verifier"
)
SECRET_FIELD = re.compile(SECRET_NAMES, re.I)

SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # An API token (yw_ and at least 8 more characters; issued tokens are far longer).
    (re.compile(r"yw_[A-Za-z0-9_\-]{8,}"), "yw_***"),
    # key=value / key: value pairs whose key names a secret.
    (re.compile(rf"(?i)({SECRET_NAMES})(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}}]+"), r"\1\2***"),
    # A bearer credential; the placeholder `<token>` in help texts is not one.
    (re.compile(r"(?i)(authorization:\s*bearer\s+)(?!<token>)\S+"), r"\1***"),
)


def redact(text: str) -> str:
    """Mask anything that looks like a token, password or key."""
    for pattern, repl in SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text
