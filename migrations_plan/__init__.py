"""Migration planning (迁移规划): readiness, zombie systems, retirements, migration waves and their tracking.

Owns: the pure deciders (`readiness`, `zombies`, `zombie_policy`, `waves`, `facts`, `guards`,
`lookback_checks`: facts in, results with Chinese and English reasons out), the I/O edge that reads the
inventory and stores plans (`load`, `planning`, `store`, `models`), the retirement flow (`retirement`),
execution tracking and look-back (`tracking`), the XLSX export (`export`), the HTTP routes and CLI (`api`,
`cli`). Alembic branch `migrations_plan`.

May import: `inventory`, `core` and third-party packages — never `collectors`, `dashboards` or `orchestrator`
(enforced by import-linter). What it needs from above (cloud capacity, creating resource requests, utilisation
evidence) is given to it as optional providers when the app installs it.
"""
