"""The one alembic environment: every table belongs to a package branch that upgrades run, and the models match
the migrations (an autogenerate against a freshly upgraded database finds nothing to do)."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import Base, make_engine, package_of
from orchestrator.app import schema


def _all_models() -> None:
    for module in schema.MODEL_MODULES:
        importlib.import_module(module)


def test_core_tables_stay_on_the_branches_that_created_them() -> None:
    _all_models()
    # counted by hand from the first revisions: change_log/api_tokens (inventory 0001), collector_job_runs
    # (collectors 152a5cc60a81), job_leases (orchestrator 43d3b856d92d)
    assert {t: package_of(t) for t in ("change_log", "api_tokens", "collector_job_runs", "job_leases")} == {
        "change_log": "inventory",
        "api_tokens": "inventory",
        "collector_job_runs": "collectors",
        "job_leases": "orchestrator",
    }


def test_every_table_belongs_to_a_branch_that_upgrade_applies() -> None:
    _all_models()
    branches = {pkg.__name__ for pkg in schema.PACKAGES}
    orphans = {t: package_of(t) for t in Base.metadata.tables if package_of(t) not in branches}
    assert orphans == {}, f"tables whose revisions no upgrade would apply: {orphans}"


def test_models_match_the_migrations(tmp_path: Path) -> None:
    _all_models()
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    schema.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"render_as_batch": True}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
