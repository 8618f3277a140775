"""One set of secret patterns for error bodies and log records (they used to disagree).

Before: error bodies masked `yw_` + 8 or more characters but no `password=…`; log records masked `yw_` + 20 or
more characters and `password=…`. So `yw_abcdefghij12` (12 characters after the prefix) leaked into logs and
`password=hunter2` leaked into error bodies.
"""

from __future__ import annotations

import json
import logging

import pytest

from core.errors import Problem, mask_secrets
from core.http import error_body
from core.logs import RedactingFilter

SHORT_TOKEN = "yw_abcdefghij12"  # 12 characters after yw_: masked in bodies only, before
PASSWORD_PAIR = "password=hunter2"  # masked in logs only, before


def _logged(caplog: pytest.LogCaptureFixture, message: str, *args: object) -> str:
    log = logging.getLogger("yunwang.test.redaction")
    f = RedactingFilter()
    log.addFilter(f)
    try:
        with caplog.at_level(logging.INFO, logger="yunwang.test.redaction"):
            log.info(message, *args)
    finally:
        log.removeFilter(f)
    (record,) = [r for r in caplog.records if r.name == "yunwang.test.redaction"]
    return record.getMessage()


def test_a_short_token_is_masked_in_an_error_body_and_in_a_log_record(caplog: pytest.LogCaptureFixture) -> None:
    body = mask_secrets(error_body(401, f"unknown token {SHORT_TOKEN}", "r1"))
    assert body["error"]["message"] == "unknown token yw_***"
    assert Problem("bad token", field="x", value=SHORT_TOKEN).as_dict() == {
        "message": "bad token",
        "field": "x",
        "value": "yw_***",
    }
    assert _logged(caplog, "login with %s failed", SHORT_TOKEN) == "login with yw_*** failed"


def test_a_password_pair_is_masked_in_an_error_body_and_in_a_log_record(caplog: pytest.LogCaptureFixture) -> None:
    body = mask_secrets(error_body(400, f"cannot parse {PASSWORD_PAIR} in line 3", "r2"))
    assert body["error"]["message"] == "cannot parse password=*** in line 3"
    assert "hunter2" not in json.dumps(body)
    assert _logged(caplog, "cannot parse %s in line 3", PASSWORD_PAIR) == "cannot parse password=*** in line 3"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("snmp community=public123 refused", "snmp community=*** refused"),
        ("v3 auth_key: Secr3tKey! rejected", "v3 auth_key: *** rejected"),
        ("priv_key=Pr1vKey passphrase=Ph4se", "priv_key=*** passphrase=***"),
    ],
)
def test_snmp_secrets_are_masked_in_logs_as_in_error_bodies(
    caplog: pytest.LogCaptureFixture, text: str, masked: str
) -> None:
    # Before, error bodies dropped values of these fields but log records and job errors kept them.
    assert _logged(caplog, "%s", text) == masked
    assert mask_secrets(error_body(400, text, "r3"))["error"]["message"] == masked


def test_the_missing_token_hint_keeps_its_placeholder() -> None:
    # `Bearer <token>` in a help text is an instruction, not a credential (it read `Bearer ***` for a while).
    hint = "send Authorization: Bearer <token>"
    assert mask_secrets(error_body(401, hint, "r4"))["error"]["message"] == hint
    assert mask_secrets(error_body(401, "Authorization: Bearer yw_abcdefghij12", "r5"))["error"]["message"] == (
        "Authorization: Bearer ***"
    )
