"""Alembic environment shared by every package's version branch."""

from __future__ import annotations

import importlib

from alembic import context

from core.db import Base, make_engine, package_of

config = context.config
for module in config.attributes.get("model_modules", ("inventory.models",)):
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise

target_metadata = Base.metadata
ONLY_PACKAGE = config.attributes.get("only_package")


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """When autogenerating for one package's branch, look only at that package's tables."""
    if ONLY_PACKAGE is None:
        return True
    table_name = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table_name is None or package_of(table_name) == ONLY_PACKAGE


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, include_object=include_object
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(
            connection=conn, target_metadata=target_metadata, render_as_batch=True, include_object=include_object
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
