"""core.tasks.callers.require_still_allowed: a job that waited never runs with rights revoked or changed since it
was asked for (the review: a revoked token's queued import still wrote 20 systems)."""

from __future__ import annotations

import pytest

from core import accounts
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import Forbidden
from core.identity import Principal, authenticate, create_token, revoke_token
from core.tasks.callers import principal_json, principal_of, require_still_allowed
from tests.builders import Inv

CTX = ChangeContext(actor="admin-1", role="admin")


def test_a_token_revoked_or_changed_since_the_ask_is_refused(any_db: Database) -> None:
    with any_db.session() as s:
        unit = Inv(s).basic()["county_unit"]
        plain = create_token(s, "li-script", Role.DEPARTMENT_USER, unit)
    with any_db.session() as s:
        asked = principal_of(principal_json(authenticate(s, plain)))  # as the job's payload carries it
        require_still_allowed(s, asked)  # nothing changed: allowed
        other_unit = Principal(asked.name, asked.role, unit + 1, asked.units)
        with pytest.raises(Forbidden):
            require_still_allowed(s, other_unit)
        with pytest.raises(Forbidden):
            require_still_allowed(s, Principal("nobody", Role.ADMIN))
    with any_db.session() as s:
        assert revoke_token(s, CTX, "li-script")
    with any_db.session() as s, pytest.raises(Forbidden) as refused:
        require_still_allowed(s, asked)
    assert refused.value.problems[0].field == "requested_by"


def test_a_disabled_account_or_a_changed_role_is_refused(any_db: Database) -> None:
    with any_db.session() as s:
        unit = Inv(s).basic()["county_unit"]
        account = accounts.create(
            s, CTX, accounts.NewAccount("zhao.min", Role.DEPARTMENT_USER, unit, password="correct horse battery 9")
        )
        account_id = account.id
    asked = Principal("zhao.min", Role.DEPARTMENT_USER, unit, frozenset({unit}), "session")
    with any_db.session() as s:
        require_still_allowed(s, asked)
        accounts.update(s, CTX, accounts.get(s, account_id), role=Role.AUDITOR, unit_id=None)
    with any_db.session() as s, pytest.raises(Forbidden):
        require_still_allowed(s, asked)
    with any_db.session() as s:
        accounts.update(s, CTX, accounts.get(s, account_id), role=Role.DEPARTMENT_USER, unit_id=unit)
    with any_db.session() as s:
        require_still_allowed(s, asked)  # back as it was: allowed again
        accounts.update(s, CTX, accounts.get(s, account_id), disabled=True)
    with any_db.session() as s, pytest.raises(Forbidden):
        require_still_allowed(s, asked)
