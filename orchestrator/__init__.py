"""The orchestrator (多云共治): the application and the multi-cloud governance scheduler.

Subpackages, top to bottom (enforced by import-linter):
- `app` — the composition root: app factory, settings, CLI, schema migrations, the permission table and the
  wiring that installs every package into one FastAPI app and one scheduler;
- `requests` — resource requests: lifecycle, approval, quotas, the request service and its API/CLI;
- `provisioning` — the clouds: driver contract, OpenStack adapter (the only openstacksdk user), durable runs,
  capacity and drift; and `placement` — the pure placement engine (these two never import each other).
Alembic branches `orchestrator` and `provisioning`.

May import: every package (`collectors`, `migrations_plan`, `dashboards`, `inventory`, `core`). Nothing imports it.
"""
