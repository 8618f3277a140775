"""Property-based fuzzing of the whole OpenAPI schema (schemathesis) against the real app.

The app runs in-process (ASGI) on SQLite and on PostgreSQL, with a token of every role; every operation
gets generated requests (valid and invalid). Goal: 0 responses 5xx and 0 schema violations (status codes,
content types and bodies as documented). Bounded: a fixed number of examples per operation and role.
Operations that reach outside this machine (probes, cloud calls) are left out: fuzzed addresses must never
become traffic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.identity import create_token
from orchestrator.app.factory import create_app
from orchestrator.app.settings import Settings
from tests.builders import Inv

pytestmark = pytest.mark.integration
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation: the admin token gets the most (it passes authorization and reaches the code),
# the other roles mostly meet authorization and scoping.
EXAMPLES = int(os.environ.get("YUNWANG_FUZZ_EXAMPLES", "3"))
OTHER_ROLE_EXAMPLES = int(os.environ.get("YUNWANG_FUZZ_OTHER_EXAMPLES", "1"))
# (method, path) that would send traffic to fuzzed addresses or clouds: never fuzzed.
OUTWARD = {
    ("POST", "/api/v1/collectors/probe"),
    ("POST", "/api/v1/clouds/sweep"),
    ("POST", "/api/v1/requests/{request_id}/provision"),
    ("POST", "/api/v1/requests/{request_id}/retire"),
}


def _fuzz_operation(op: Any, role: str, token: str, failures: list[str], examples: int) -> int:
    """Up to EXAMPLES generated requests for one operation as one role; failures collected, not raised."""
    calls = 0
    headers = {"Authorization": f"Bearer {token}"}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def run(case: Any) -> None:
        nonlocal calls
        response = case.call(headers=headers)
        calls += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # collected: one report of every failure
            text = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
            failures.append(f"[{role}] {op.method.upper()} {op.path}: {' | '.join(text[:8])[:700]}")

    run()
    return calls


def _fuzz(app: Any, tokens: dict[str, str]) -> tuple[int, list[str]]:
    app.openapi()  # generated once up front: the loader's request has a 10 s timeout on a busy machine
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]  # an Err raises here
    calls = 0
    failures: list[str] = []
    for role, token in tokens.items():
        for op in operations:
            if (op.method.upper(), op.path) not in OUTWARD:
                examples = EXAMPLES if role == Role.ADMIN.value else OTHER_ROLE_EXAMPLES
                calls += _fuzz_operation(op, role, token, failures, examples)
    return calls, failures


def _tokens(db: Database) -> dict[str, str]:
    with db.session() as s:
        inv = Inv(s, ChangeContext(actor="fuzz", role="admin"))
        unit = inv.add(
            "units", name="模糊测试单位", level="region", region_id=inv.add("regions", name="区", level="region")
        )
        scoped = {Role.SUB_CLOUD_CHIEF, Role.DEPARTMENT_USER}
        return {r.value: create_token(s, f"fuzz-{r.value}", r, unit if r in scoped else None) for r in Role}


def test_fuzz_every_operation_every_role(any_db: Database, tmp_path: Path) -> None:
    settings_ = Settings(database_url=any_db.url, data_dir=tmp_path / "data", scheduler_enabled=False)
    app = create_app(settings_, registry=CollectorRegistry(), database=any_db)
    calls, failures = _fuzz(app, _tokens(any_db))
    assert calls > 140 * 7  # 140-odd operations × 7 roles, at least one request each
    assert failures == [], f"{len(failures)} failure(s):\n" + "\n".join(failures)
