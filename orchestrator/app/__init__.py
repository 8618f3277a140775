"""The application shell (composition root): app factory, settings, CLI, schema migrations, the permission table
and the wiring that installs every package into one FastAPI app and one scheduler.

May import every package. Nothing imports it except entry points and tests.
"""
