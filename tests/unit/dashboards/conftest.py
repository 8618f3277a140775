"""Fixtures shared by the dashboards unit tests."""

from __future__ import annotations

import pytest

from core.db import Database
from tests import known_rates


@pytest.fixture
def known(any_db: Database) -> tuple[Database, dict[str, int]]:
    """The hand-counted inventory of tests/known_rates.py, committed, on both databases: (database, ids).
    (Files whose tests need another shape define their own `known`.)"""
    with any_db.session() as s:
        k = known_rates.build(s)
        s.commit()
    return any_db, k.ids
