"""The application shell (composition root): builds one FastAPI app and one scheduler from every package.

- `factory`: `create_app(settings)`: calls each package's `install(app, …)` and fills the `core.wiring` container;
- `settings`: the one settings object (`YUNWANG_*`); `config_doc`: docs/configuration.md generated from it;
- `permission_table`: the one permission table (enforced by `core.permissions.gate`);
- `collectors_wiring`: the extranet collectors' service, metrics, router and jobs;
- `plan_wiring`, `plan_capacity`: what the migration planner gets from the orchestrator (free capacity,
  flavors, the request factory; no utilisation evidence: the service measures no per-server load);
- `schema`: alembic upgrade/revision over every package's version branch;
- `cli` (`yunwang`), with `cloud_cli`, `inventory_cli`, `probe_cli`; `demo`: what `yunwang demo` sets up.

May import every package. Nothing imports it except entry points and tests.
"""
