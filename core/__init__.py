"""The platform beneath every package: what all of them share and none of them owns.

Modules:
- `audit`: the change-log API (`ChangeContext`, `record_change`);
- `db`: engine, sessions and the declarative base (`Database`, `Base`, `enum_type`);
- `deps`: FastAPI dependencies shared by every router (session, database, authenticated principal);
- `enums`: platform enums (API roles, change-log actions);
- `errors`: the one error family (`AppError` and its subclasses, `Problem`) and its error body;
- `http`: the HTTP edge (request ids, error body and exception handlers, security headers, offline API docs);
- `identity`: API tokens (stored hashed) and the caller (`Principal`, role, unit-subtree scope);
- `jobs`: the single job scheduler and its run records and leases;
- `logs`: logging set-up with secret redaction;
- `metrics`: the Prometheus registry, the HTTP latency middleware and `/metrics`;
- `models`: platform tables (change log, API tokens, job runs and leases);
- `permissions`: the permission gate (the table itself is `orchestrator.app.permission_table`);
- `pydantic_text`: pydantic validation errors as bilingual user-facing text;
- `redaction`: the one set of secret patterns (used by `errors`, `logs` and `jobs`);
- `responses`: the shared response-model base and common response models;
- `times`: the one time convention (Beijing time in, UTC stored, offsets out);
- `validation`: bounded inputs shared by every router and the input guard;
- `wiring`: the app's one typed services container and its dependency providers;
- `migrations/`: the one alembic environment for every package's version branch.

May import: the standard library and third-party packages only — never `inventory`, `collectors`,
`migrations_plan`, `dashboards` or `orchestrator` (enforced by import-linter).
"""
