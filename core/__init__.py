"""The platform beneath every package: what all of them share and none of them owns.

Owns: the database and sessions (`db`), platform tables (`models`: audit log, API tokens, job runs and leases),
the one error family and its HTTP mapping (`errors`, `http`), identity and roles (`identity`, `enums`), the
permission gate (`permissions`; the table itself is declared in `orchestrator.app.permission_table`), FastAPI
dependencies (`deps`), the audit (change log) API (`audit`), time and clock (`times`), bounded inputs
(`validation`, `pydantic_text`), the single job scheduler and its run records (`jobs`), logging with secret
redaction (`redaction`, used by `errors`, `logs` and `jobs`) and metrics plumbing (`metrics`).

May import: the standard library and third-party packages only — never `inventory`, `collectors`,
`migrations_plan`, `dashboards` or `orchestrator` (enforced by import-linter).
"""
